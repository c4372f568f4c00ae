"""Exercise 1: a TCP echo server and its client.

What you learn
--------------
A TCP *server* is a socket that waits for connections; a *client* is a
socket that asks for one.  Both are made with ``socket.socket(AF_INET,
SOCK_STREAM)``.  The server then:

1. ``bind((host, port))`` -- picks the address and port it listens on.  Port
   0 asks the kernel for any free port (the tests do that); read the port it
   chose with ``getsockname()``.
2. ``listen(backlog)`` -- from now on the *kernel* answers connection
   requests.  When a client's SYN arrives, the kernel replies SYN-ACK, the
   client's kernel replies ACK, and the connection is complete: the three-way
   handshake happens without your program doing anything.  Finished
   connections wait in the backlog queue.
3. ``accept()`` -- takes one finished connection off the queue and returns a
   *new* socket for it, plus the client's address ``(ip, port)``.  The
   listening socket keeps listening.

The client calls ``connect((host, port))``: its kernel picks an *ephemeral*
port for the client side (see ``getsockname()`` after connecting), sends the
SYN, and ``connect`` returns as soon as the server's SYN-ACK arrives -- about
one round trip; the client's ACK, the handshake's third segment, leaves
right after.  A TCP connection is named by the protocol and four numbers:
client ip, client port, server ip, server port.  (The protocol is part of
the name: the same port numbers can be used at once by TCP and by UDP.)

TCP carries a stream of bytes, not messages: ``recv(n)`` returns *at least
one* and at most n bytes, whatever the sender's ``send()`` calls were, and
returns ``b""`` when the peer has closed its side (its FIN arrived).  So
"read everything" means: call ``recv`` in a loop until it returns ``b""``.

Buffers, and the deadlock they hide
-----------------------------------
``sendall`` returns once the kernel has *copied* your bytes into the
socket's send buffer; they travel later, into the peer's receive buffer,
where they wait until the peer's program calls ``recv``.  An echo server
sends back while you are still sending.  If your client only starts reading
after it has sent everything, then with enough data: your receive buffer
fills, the server's ``sendall`` waits for room, so the server stops reading,
its receive buffer fills, and your ``sendall`` waits too.  Both programs
wait for each other for ever -- a deadlock.  A few kilobytes fit in the
buffers and hide the bug; a few megabytes do not (the tests send 8 MiB).
So the client sends and receives *at the same time*: one thread sends while
the other receives.

What to write
-------------
``open_listener``, ``echo_once`` and ``echo_client`` below.  Try them by hand::

    python -m exercises.ex01_echo        # prints the port, echoes one client
    nc 127.0.0.1 PORT                     # type lines, then Ctrl-D

Tests: ``chatlab grade ex01`` or ``python -m pytest tests/graded/test_ex01_echo.py``.
"""

from __future__ import annotations

import socket
import threading


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 16) -> socket.socket:
    """Create a TCP socket listening on (HOST, PORT) and return it.

    - make an IPv4 TCP socket (``AF_INET``, ``SOCK_STREAM``);
    - bind it to (HOST, PORT) -- PORT 0 means "any free port";
    - put it in listening mode with the given BACKLOG.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write open_listener() in exercises/ex01_echo.py")


def echo_once(listener: socket.socket) -> tuple[str, int]:
    """Accept ONE connection on LISTENER and echo it; return the client's address.

    - ``accept()`` one connection (the handshake is already done by then);
    - read with ``recv`` in a loop and send back every byte you receive
      (``sendall``: ``send`` may send only part of the data);
    - when ``recv`` returns ``b""`` the client has closed its side (FIN):
      close the connection socket (this sends your FIN) and return the
      client's address ``(ip, port)`` as ``accept()`` gave it.

    Do not close LISTENER: it belongs to the caller.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write echo_once() in exercises/ex01_echo.py")


def echo_client(host: str, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Connect to the echo server at (HOST, PORT), send DATA, return what comes back.

    - create a TCP socket with a timeout of TIMEOUT seconds and ``connect``
      (``socket.create_connection((host, port), timeout)`` does both);
    - send and receive at the same time: start a thread that does
      ``sendall(DATA)`` and then ``shutdown(socket.SHUT_WR)`` -- this sends
      your FIN and tells the server you have nothing more to send, while you
      can still receive;
    - meanwhile, in this thread, ``recv`` in a loop until it returns ``b""``
      (the server's FIN);
    - wait for the sending thread (``join``); if its ``sendall`` raised an
      ``OSError``, raise it here too; close the socket and return all the
      bytes received, in order.

    DATA may be much larger than all the buffers between you and the server
    (see "Buffers, and the deadlock they hide" above).
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write echo_client() in exercises/ex01_echo.py")


if __name__ == "__main__":
    server = open_listener()
    print(f"echo server listening on 127.0.0.1:{server.getsockname()[1]} (one client, then exit)")
    print("client was", echo_once(server))
    server.close()
