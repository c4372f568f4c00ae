"""Exercise 5: closing connections -- FIN or RST, and a clean Ctrl-C.

What you learn
--------------
A TCP connection can end in two ways, and your program sees the difference:

- **FIN**, the polite end.  ``shutdown(SHUT_WR)`` sends a FIN after all the
  data already sent: "I have nothing more to send".  ``close()`` does the
  same in the usual case -- but not always: see RST below, and a socket
  shared by several descriptors (after ``os.dup`` or ``fork``) sends its FIN
  only when the last of them is closed (``shutdown`` sends it at once).  On
  the other side, once all data before the FIN is read, ``recv()`` returns
  ``b""``.  The connection is half-closed until the other side closes too.
- **RST**, the abrupt end.  It throws the connection away, data in flight
  included.  On the other side ``recv()`` (or ``send()``) raises
  ``ConnectionResetError``.  A kernel sends an RST when you ``close()`` a
  socket that still has *unread received data* (it tells the peer its data
  was lost), when you set ``SO_LINGER`` to ``(on, 0 seconds)`` before
  ``close()``, when a segment arrives for a connection that no longer exists
  (for example, you write to a peer that has already closed its socket), and
  when you connect to a port nobody listens on.  A process that is killed
  does not send an RST by itself: the kernel closes its sockets as
  ``close()`` would, so the peer sees a FIN unless unread data was waiting.

A clean server shutdown (Ctrl-C sends SIGINT; Python turns it into
``KeyboardInterrupt`` in the main thread) tells every client, ends every
connection with a FIN, closes the listening socket, and exits with status 0.

Then comes the restart.  The side that closes a connection first keeps it
in TIME_WAIT for a while (60 seconds on Linux; RFC 9293 asks for twice the
maximum segment lifetime), so that a late segment of the old connection
cannot be mistaken for part of a new one.  Those TIME_WAIT connections
still use the server's port.  Predict: what does ``bind`` say when the
server is started again on the same port a second after Ctrl-C?  Try it,
read the error, and find out how a server asks the kernel to allow that
bind anyway (``man 7 socket`` lists the socket options); the tests restart
your server on the same port at once.

Try it::

    python -m exercises.ex05_closing 5050     # connect with nc 127.0.0.1 5050, then Ctrl-C the server

What to write
-------------
``wait_for_close``, ``close_with_reset``, ``close_gracefully``,
``say_goodbye``, ``listen_on`` and ``serve_until_interrupted``.  ``main``
is given.
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
    ### BEGIN SOLUTION
    sock.settimeout(timeout)
    received = 0
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return "fin", received
            received += len(data)
    except ConnectionResetError:
        return "rst", received
    except socket.timeout:
        return "timeout", received
    ### END SOLUTION


def close_with_reset(sock: socket.socket) -> None:
    """Close SOCK so that the kernel sends an RST instead of a FIN.

    Set the ``SO_LINGER`` option to "on, 0 seconds" and close.  The option's
    value is the C ``struct linger { int l_onoff; int l_linger; }``: build
    it with ``struct.pack("ii", 1, 0)``.
    """
    ### BEGIN SOLUTION
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    ### END SOLUTION


def close_gracefully(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """End the connection with a FIN, read what the peer still sends, then close.

    1. ``shutdown(socket.SHUT_WR)``: your FIN goes out after your data;
       you can still receive.
    2. Read until the peer closes too (``b""``) or TIMEOUT seconds pass --
       reading everything also makes sure ``close()`` does not turn into
       an RST because of unread data.
    3. ``close()`` the socket and return the bytes read in step 2.
    """
    ### BEGIN SOLUTION
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        sock.close()
    return b"".join(chunks)
    ### END SOLUTION


def say_goodbye(clients: list[socket.socket]) -> int:
    """Tell each client the server is stopping, and end each connection with a FIN.

    For each socket: send ``server_line("---", "shutdown: the server is
    stopping")``, then ``shutdown(socket.SHUT_WR)`` and ``close()``.  A
    client that is already gone makes these raise ``OSError``: ignore it and
    go on with the next.  Return how many clients were told.
    """
    ### BEGIN SOLUTION
    told = 0
    for conn in clients:
        try:
            conn.sendall(server_line("---", "shutdown: the server is stopping"))
            conn.shutdown(socket.SHUT_WR)
            told += 1
        except OSError:
            pass
        finally:
            conn.close()
    return told
    ### END SOLUTION


def _discard(conn: socket.socket) -> None:
    """Read and throw away what a client sends (so there is never unread data)."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def listen_on(port: int) -> socket.socket:
    """The server's listening socket on 127.0.0.1:PORT (port 0: any free port), listening.

    Like ``open_listener`` in exercise 1, with one more requirement: when
    the server is stopped with Ctrl-C and started again on the same port at
    once, the new ``bind`` must succeed, although the connections the old
    server closed are still in TIME_WAIT on that port (see "What you learn").
    """
    ### BEGIN SOLUTION
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
    except OSError:
        listener.close()
        raise
    return listener
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    clients: list[socket.socket] = []
    try:
        while True:
            conn, _ = listener.accept()
            conn.settimeout(None)
            clients.append(conn)
            threading.Thread(target=_discard, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        told = say_goodbye(clients)
        listener.close()
        return told
    ### END SOLUTION


def main(argv: list[str] | None = None) -> int:
    """Run the server on 127.0.0.1 (port from ARGV, default 5050) until Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    port = int(argv[0]) if argv else 5050
    try:
        listener = listen_on(port)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", flush=True)
        return 1
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]} (Ctrl-C to stop)", flush=True)
    started = time.monotonic()
    told = serve_until_interrupted(listener)
    print(f"stopped cleanly after {time.monotonic() - started:.1f} s; told {told} client(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
