"""Exercise 4: the two-thread chat client.

What you learn
--------------
A chat client waits for two things at once: the user typing a line, and
the server sending one.  Both waits block (``input()`` / reading stdin, and
``recv()``).  With one thread, the client would show other people's
messages only after you press Enter.  The answer is two threads:

- the *receiver thread* loops on ``recv()`` and shows every line the server
  sends, as soon as it arrives;
- the *main thread* reads what the user types and sends it.

They share one socket, and that is fine: one thread only receives, the
other only sends.

Ending is the delicate part.  When the user is done (end of input, Ctrl-D),
the client calls ``shutdown(SHUT_WR)``: its FIN tells the server "no more
lines from me", while the receiver can still read what the server sends
until the server closes too (``recv`` returns ``b""``).  When the *server*
closes first, the receiver thread ends and tells the main thread.

This client speaks the chat protocol of exercise 3 and docs/PROTOCOL.md:
the first line sent is the name, then each line is a message.  It works
with ``chatlab server`` and with your exercise 3 server::

    python -m exercises.ex04_client 127.0.0.1 5050 alice

What to write
-------------
``receive_lines`` (the receiver thread's loop) and ``run_client``.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Callable, Iterable


def receive_lines(sock: socket.socket, on_line: Callable[[str], None]) -> str:
    """Call ON_LINE(text) for each line the server sends; return how it ended.

    - ``recv`` in a loop; cut the bytes into lines at ``\\n`` (strip a
      ``\\r`` before it), decode each complete line from UTF-8
      (``errors="replace"``) and call ``on_line`` with it, in order.
      Keep an incomplete last line until the rest arrives.
    - Return ``"closed"`` when ``recv`` returns ``b""`` (the server's FIN),
      ``"reset"`` when it raises ``ConnectionResetError`` (an RST).
    - Any other ``OSError`` (e.g. the socket was closed under us): return
      ``"error"``.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write receive_lines() in exercises/ex04_client.py")


def run_client(host: str, port: int, name: str, lines: Iterable[str],
               on_line: Callable[[str], None], wait: float = 5.0) -> str:
    """Chat as NAME on (HOST, PORT): send LINES, show the server's lines with ON_LINE.

    1. Connect (``socket.create_connection``), then make the socket
       blocking for good with ``settimeout(None)`` -- the receiver may wait
       for a long time.
    2. Start the receiver thread (``daemon=True``) running
       ``receive_lines(sock, on_line)``; keep what it returns.
    3. Send NAME as the first line, then each item of LINES as a line
       (UTF-8, ending with ``\\r\\n``).  LINES may block between items (it
       can be stdin): that is why receiving happens in the other thread.
       Stop sending early if the receiver thread has ended (the server
       closed the connection).
    4. When LINES is exhausted: ``shutdown(socket.SHUT_WR)`` (your FIN),
       wait up to WAIT seconds for the receiver thread to end (the server
       answers your FIN by closing), close the socket.
    5. Return how the receiver ended (``"closed"``, ``"reset"``, ...), or
       ``"timeout"`` if it was still running after WAIT seconds.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write run_client() in exercises/ex04_client.py")


def _stdin_lines() -> Iterable[str]:
    """The lines typed on stdin, without their line end (ends at Ctrl-D)."""
    for line in sys.stdin:
        yield line.rstrip("\r\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m exercises.ex04_client HOST PORT NAME")
    how = run_client(sys.argv[1], int(sys.argv[2]), sys.argv[3], _stdin_lines(), print)
    print(f"(connection ended: {how})")
