"""Exercise 5: closing connections -- FIN or RST, and a clean Ctrl-C.

What you learn
--------------
A TCP connection can end in two ways, and your program sees the difference:

- **FIN**, the polite end.  ``close()`` (or ``shutdown(SHUT_WR)``) sends a FIN
  after all the data already sent: "I have nothing more to send".  On the
  other side, once all data before it is read, ``recv()`` returns ``b""``.
  The connection is half-closed until the other side closes too.
- **RST**, the abrupt end.  It throws the connection away, data in flight
  included.  On the other side ``recv()`` (or ``send()``) raises
  ``ConnectionResetError``.  You get an RST when you close a socket that
  still has *unread received data* (the kernel tells the peer its data was
  lost), when you set ``SO_LINGER`` to ``(on, 0 seconds)`` before
  ``close()``, or when you connect to a port nobody listens on.

A clean server shutdown (Ctrl-C sends SIGINT; Python turns it into
``KeyboardInterrupt`` in the main thread) tells every client, ends every
connection with a FIN, closes the listening socket, and exits with status 0.
Thanks to ``SO_REUSEADDR`` a restarted server can bind the same port at once,
although the old connections sit in TIME_WAIT on the server's side (the side
that closes first keeps TIME_WAIT for a minute or so).

Try it::

    python -m exercises.ex05_closing 5050     # connect with nc 127.0.0.1 5050, then Ctrl-C the server

What to write
-------------
``wait_for_close``, ``close_with_reset``, ``close_gracefully``,
``say_goodbye`` and ``serve_until_interrupted``.  ``main`` is given.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time

from .chatwire import server_line


def wait_for_close(sock: socket.socket, timeout: float = 5.0) -> tuple[str, int]:
    """Read from SOCK until the peer ends the connection; say how, and count the bytes.

    Return ``("fin", n)`` when ``recv`` returns ``b""``, ``("rst", n)``
    when it raises ``ConnectionResetError``, ``("timeout", n)`` when nothing
    ends the connection within TIMEOUT seconds (set ``sock.settimeout``;
    ``recv`` then raises ``socket.timeout``).  N is the number of bytes
    received before the end.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write wait_for_close() in exercises/ex05_closing.py")


def close_with_reset(sock: socket.socket) -> None:
    """Close SOCK so that the kernel sends an RST instead of a FIN.

    Set the ``SO_LINGER`` option to "on, 0 seconds" and close.  The option's
    value is the C ``struct linger { int l_onoff; int l_linger; }``: build
    it with ``struct.pack("ii", 1, 0)``.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write close_with_reset() in exercises/ex05_closing.py")


def close_gracefully(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """End the connection with a FIN, read what the peer still sends, then close.

    1. ``shutdown(socket.SHUT_WR)``: your FIN goes out after your data;
       you can still receive.
    2. Read until the peer closes too (``b""``) or TIMEOUT seconds pass --
       reading everything also makes sure ``close()`` does not turn into
       an RST because of unread data.
    3. ``close()`` the socket and return the bytes read in step 2.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write close_gracefully() in exercises/ex05_closing.py")


def say_goodbye(clients: list[socket.socket]) -> int:
    """Tell each client the server is stopping, and end each connection with a FIN.

    For each socket: send ``server_line("---", "shutdown: the server is
    stopping")``, then ``shutdown(socket.SHUT_WR)`` and ``close()``.  A
    client that is already gone makes these raise ``OSError``: ignore it and
    go on with the next.  Return how many clients were told.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write say_goodbye() in exercises/ex05_closing.py")


def _discard(conn: socket.socket) -> None:
    """Read and throw away what a client sends (so there is never unread data)."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def serve_until_interrupted(listener: socket.socket) -> int:
    """Accept clients until Ctrl-C, then shut down cleanly; return how many clients were told.

    - Loop on ``listener.accept()``.  For each client: keep its socket in a
      list, and start a daemon thread running ``_discard(conn)`` (given), so
      that what the client sends is read (remember: unread data makes
      ``close`` send an RST).
    - Ctrl-C raises ``KeyboardInterrupt`` in the main thread, here, while
      ``accept()`` waits.  Catch it: ``say_goodbye`` to every client,
      close the listener, and return the number ``say_goodbye`` returned.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write serve_until_interrupted() in exercises/ex05_closing.py")


def main(argv: list[str] | None = None) -> int:
    """Run the server on 127.0.0.1 (port from ARGV, default 5050) until Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    port = int(argv[0]) if argv else 5050
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]} (Ctrl-C to stop)", flush=True)
    started = time.monotonic()
    told = serve_until_interrupted(listener)
    print(f"stopped cleanly after {time.monotonic() - started:.1f} s; told {told} client(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
