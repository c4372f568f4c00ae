"""Exercise 3: the threaded broadcast server.

What you learn
--------------
``accept()`` and ``recv()`` *block*: a server with one thread can wait for
a new client or for one client's next line, not both.  The classic answer
is a thread per client:

- the *accept loop* (its own thread) accepts connections for ever and starts
  one thread per new connection;
- each *client thread* reads that client's lines and, for each line, sends
  it to every other client.

So the server needs a *list of clients* that all the threads share.  Threads
run at the same time, so every read or change of that list happens while
holding a ``threading.Lock`` -- otherwise one thread may loop over the list
while another removes an entry from it.

Sending to every client is a loop of ``sendall`` calls.  A client whose
connection is already broken makes ``sendall`` raise ``OSError``: skip it,
its own thread will notice and remove it.  (Do not hold the lock while
sending: copy the list under the lock, then send.)

The protocol (a subset of docs/PROTOCOL.md, so ``chatlab client`` and ``nc``
work with your server; see solutions/chatwire.py -- exercises/chatwire.py
in your copy -- for ``server_line``)::

    server: HH:MM:SS --- hello: welcome! What is your name?   (on connect)
    client: alice                                              (first line: the name)
    server: HH:MM:SS --- welcome: you are alice                (to alice)
    server: HH:MM:SS *** alice joined                          (to everyone else)
    client: hi all                                             (any later line)
    server: HH:MM:SS <alice> hi all                            (to everyone else, not alice)
    ...alice closes her connection...
    server: HH:MM:SS *** alice left (closed)                   (to everyone else)

Use ``left (reset)`` instead of ``left (closed)`` when ``recv`` raised
``ConnectionResetError`` (the client's RST; exercise 5 is about that).  Empty
lines are ignored.  One command is part of this subset: the line ``/quit``
(what ``chatlab client`` sends when you leave) gets ``--- bye: see you``
and the server closes the connection; the others see ``*** NAME left
(quit)``.  Try it::

    python -m exercises.ex03_broadcast 5050     # then, in two other terminals:
    chatlab client 127.0.0.1 --port 5050 --name alice      (or: nc 127.0.0.1 5050)

What to write
-------------
``start``, ``_accept_loop``, ``_serve_client`` and ``broadcast``.
``stop`` and ``address`` are given.
"""

from __future__ import annotations

import socket
import sys
import threading

from .chatwire import read_lines, server_line


class BroadcastServer:
    """A chat server: every line one client sends goes to all the others."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.listener: socket.socket | None = None
        #: The list of clients: connection socket -> name.  Guard it with ``self.lock``.
        self.clients: dict[socket.socket, str] = {}
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port, after bind)."""
        return self.listener.getsockname()[:2]

    def start(self) -> None:
        """Listen on (self.host, self.port) and start the accept loop; return at once.

        - create the listening socket (``SO_REUSEADDR``, bind, listen --
          exercise 1) and keep it in ``self.listener``;
        - set ``self.running``;
        - start a daemon thread running ``self._accept_loop`` (append it to
          ``self.threads``) and return: ``start`` must not block.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write start() in exercises/ex03_broadcast.py")

    def _accept_loop(self) -> None:
        """Accept connections until ``stop`` closes the listener.

        For each connection: start a daemon thread running
        ``self._serve_client(conn, address)`` and go back to ``accept()``
        at once.  When ``accept()`` raises ``OSError`` (the listener was
        closed by ``stop``), return.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write _accept_loop() in exercises/ex03_broadcast.py")

    def _serve_client(self, conn: socket.socket, address: tuple[str, int]) -> None:
        """Talk to one client, from its first line to the end of its connection.

        1. ``conn.settimeout(None)`` (a chat client may stay silent for long),
           then send ``--- hello: welcome! What is your name?``.
        2. Read lines with ``read_lines(conn)``.  The first non-empty line is
           the client's name: add ``conn: NAME`` to ``self.clients`` (under
           the lock), *then* send it ``--- welcome: you are NAME`` (once told
           it is in, a client must receive every later message), and
           broadcast ``*** NAME joined`` to the others.
        3. Every later non-empty line TEXT: broadcast ``<NAME> TEXT`` to
           everyone but this client -- except ``/quit``: send this client
           ``--- bye: see you`` and stop reading (``left (quit)``).
        4. When the lines end (the client closed: ``left (closed)``) or
           ``recv`` raised ``ConnectionResetError`` (``left (reset)``) or
           another ``OSError``: remove the client from the list (under the
           lock), broadcast ``*** NAME left (closed|reset|quit)`` if it had
           joined, and close ``conn``.  Use ``try``/``finally``: the cleanup
           must happen however the loop ends.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write _serve_client() in exercises/ex03_broadcast.py")

    def broadcast(self, line: bytes, exclude: socket.socket | None = None) -> None:
        """Send LINE (already encoded, ends with CRLF) to every client except EXCLUDE.

        Copy the list of clients under the lock, then ``sendall`` to each one
        outside it.  Ignore ``OSError`` from a client whose connection is
        broken: its own thread removes it.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write broadcast() in exercises/ex03_broadcast.py")

    def stop(self) -> None:
        """Stop accepting, close every connection, wait (briefly) for the threads."""
        self.running.clear()
        if self.listener is not None:
            try:
                # On Linux, close() alone does not wake a thread blocked in accept(); shutdown() does.
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
        with self.lock:
            conns = list(self.clients)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv()
            except OSError:
                pass
        for thread in self.threads:
            thread.join(timeout=1.0)


if __name__ == "__main__":
    server = BroadcastServer("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5050)
    server.start()
    print(f"broadcast server on {server.address[0]}:{server.address[1]}; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
