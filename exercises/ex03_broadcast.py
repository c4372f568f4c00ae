"""Exercise 3: the threaded broadcast server, and the member that stops reading.

What you learn
--------------
``accept()`` and ``recv()`` *block*: they wait until something arrives.  A
server must wait for new clients and for every client's next line at the
same time.  Two designs do that: one thread per client (this exercise), or
one thread that asks the kernel which sockets are ready, with ``select``,
``poll`` or ``epoll`` (Python's ``selectors`` module), and never blocks on
any of them.  Threads keep each client's code a plain loop, which is why
the chat starts with them:

- the *accept loop* (its own thread) accepts connections for ever and starts
  one thread per new connection;
- each *client thread* reads that client's lines and, for each line, sends
  it to every other client.

So the server needs a *list of clients* that all the threads share.  Threads
run at the same time, so every read or change of that list happens while
holding a ``threading.Lock`` -- otherwise one thread may loop over the list
while another removes an entry from it.

The member that stops reading
-----------------------------
``sendall`` returns once the kernel has *copied* your bytes into the
socket's send buffer.  When a client stops reading (a laptop asleep, ``nc``
in a frozen terminal, a student's experiment), its receive buffer fills, its
kernel advertises a zero window, the server's send buffer fills, and the
next ``sendall`` to it waits -- for as long as that client does not read,
possibly for ever: TCP does not give up on a peer that still acknowledges.
If the thread that waits is the one relaying alice's line, alice's next
lines wait behind it, and everyone stops hearing alice.  Copying the list
under the lock and sending outside it does not help: the thread still waits
in ``sendall``.  What protects the room is **a bounded send, and the slow
member dropped**:

- each connection gets its own *send queue* (``queue.Queue(MAX_QUEUED)``)
  and its own *writer thread*, the only one that sends on that socket: it
  takes lines from the queue and ``sendall``s them (so lines never
  interleave, and a slow client blocks only its own writer);
- everybody else only *puts* lines into that queue, without waiting
  (``put_nowait``).  When the queue is full, the member has fallen
  ``MAX_QUEUED`` lines behind on top of what the kernel buffers hold: it is
  dropped (its connection closed) and the others are told why.

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
``ConnectionResetError`` (the client's RST; exercise 5 is about that), and
``left (dropped: send queue exceeded)`` for a member dropped because its
queue was full.  Empty lines are ignored.  One command is part of this
subset: the line ``/quit`` (what ``chatlab client`` sends when you leave)
gets ``--- bye: see you`` and the server closes the connection; the others
see ``*** NAME left (quit)``.  Try it::

    python -m exercises.ex03_broadcast 5050     # then, in two other terminals:
    chatlab client 127.0.0.1 --port 5050 --name alice      (or: nc 127.0.0.1 5050)

and, to see a member dropped, a third terminal that stops reading:
``nc 127.0.0.1 5050``, type a name, then press Ctrl-Z (the shell stops
``nc``, so nothing reads its socket any more) while alice pastes a long
text again and again.  ``fg`` brings it back -- too late.

What to write
-------------
``start``, ``_accept_loop``, ``_serve_client``, ``offer``, ``_send_loop``
and ``broadcast``.  ``stop``, ``_drop`` and ``address`` are given.
"""

from __future__ import annotations

import queue
import socket
import sys
import threading

from .chatwire import read_lines, server_line

#: Lines that may wait in one member's send queue; one more and it is dropped.
MAX_QUEUED = 1000


class BroadcastServer:
    """A chat server: every line one client sends goes to all the others."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.listener: socket.socket | None = None
        #: The list of clients: connection socket -> name.  Guard it with ``self.lock``.
        self.clients: dict[socket.socket, str] = {}
        #: Every open connection's send queue (named or not yet).  Guarded by ``self.lock`` too.
        self.outboxes: dict[socket.socket, queue.Queue] = {}
        #: Connections dropped by ``_drop``, with the reason their thread announces.
        self.dropped: dict[socket.socket, str] = {}
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port, after bind)."""
        return self.listener.getsockname()[:2]

    def start(self) -> None:
        """Listen on (self.host, self.port) and start the accept loop; return at once.

        - create the listening socket (bind, listen -- as in exercise 1)
          and keep it in ``self.listener``;
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

        1. ``conn.settimeout(None)`` (a chat client may stay silent for long).
           Make the connection's send queue, ``queue.Queue(MAX_QUEUED)``, put
           it in ``self.outboxes`` (under the lock), start a daemon writer
           thread running ``self._send_loop(conn, outbox)``, and ``offer``
           the line ``--- hello: welcome! What is your name?``.
        2. Read lines with ``read_lines(conn)``.  The first non-empty line is
           the client's name.  Under the lock, *both* put the line
           ``--- welcome: you are NAME`` into its queue (``put_nowait``: it
           cannot be full yet) *and* add ``conn: NAME`` to ``self.clients``:
           no broadcast can then come between, and from its welcome on the
           client receives every later message.  Then broadcast
           ``*** NAME joined`` to the others.
        3. Every later non-empty line TEXT: broadcast ``<NAME> TEXT`` to
           everyone but this client -- except ``/quit``: ``offer`` this
           client ``--- bye: see you`` and stop reading (``left (quit)``).
        4. When the lines end (the client closed: ``left (closed)``) or
           ``recv`` raised ``ConnectionResetError`` (``left (reset)``) or
           another ``OSError``, and in every case (``try``/``finally``):

           - under the lock, remove ``conn`` from ``self.clients`` and
             ``self.outboxes``, and take its reason out of ``self.dropped``
             if ``_drop`` put one there (then it left ``(dropped: REASON)``);
           - broadcast ``*** NAME left (HOW)`` if it had joined;
           - stop the writer: ``put_nowait(None)`` (if the queue is full,
             skip it: the writer is stuck in a send that ``shutdown`` is
             about to end), and ``join`` it for at most 2 seconds -- so that
             a ``bye`` still queued goes out first;
           - ``shutdown(socket.SHUT_RDWR)`` (ignore ``OSError``), then
             ``close()``.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write _serve_client() in exercises/ex03_broadcast.py")

    def offer(self, conn: socket.socket, outbox: queue.Queue, line: bytes) -> bool:
        """Put LINE into the send queue OUTBOX of CONN without waiting; True if it was queued.

        ``outbox.put_nowait(line)``.  When the queue is full (``queue.Full``),
        the member is too slow: ``self._drop(conn, "send queue exceeded")``
        and return False.  Never wait here: the thread calling ``offer`` is
        relaying someone else's line, and the whole room would wait with it.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write offer() in exercises/ex03_broadcast.py")

    def _send_loop(self, conn: socket.socket, outbox: queue.Queue) -> None:
        """The writer thread of one connection: send what its queue holds, in order.

        Loop: ``line = outbox.get()`` (this waits for the next line); ``None``
        means stop: return.  Otherwise ``conn.sendall(line)``.  When
        ``sendall`` raises ``OSError`` (the client is gone, or ``shutdown``
        was called), return.  This thread is the only one that sends on
        CONN, so it is the only one a slow client makes wait.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write _send_loop() in exercises/ex03_broadcast.py")

    def broadcast(self, line: bytes, exclude: socket.socket | None = None) -> None:
        """Queue LINE (already encoded, ends with CRLF) for every client except EXCLUDE.

        Under the lock, copy the list of (connection, send queue) of every
        client in ``self.clients`` but EXCLUDE; then ``offer`` the line to
        each one, outside the lock (``offer`` may call ``_drop``, which takes
        the lock).  Nothing here waits for a client.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write broadcast() in exercises/ex03_broadcast.py")

    def _drop(self, conn: socket.socket, reason: str) -> None:
        """Close a connection the server gives up on; its own thread announces why.

        ``shutdown(SHUT_RDWR)`` (not ``close``): it ends the connection for
        both threads that use the socket -- the client thread's ``recv``
        returns ``b""`` and the writer's blocked ``sendall`` raises -- while
        the socket object stays valid until the client thread closes it.
        """
        with self.lock:
            if conn not in self.outboxes or conn in self.dropped:
                return  # already gone, or already being dropped
            self.dropped[conn] = reason
            self.clients.pop(conn, None)  # nobody queues anything more for it
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

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
            conns = list(self.outboxes)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked in recv() and sendall()
            except OSError:
                pass
        for thread in list(self.threads):
            thread.join(timeout=1.0)


if __name__ == "__main__":
    server = BroadcastServer("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5050)
    server.start()
    print(f"broadcast server on {server.address[0]}:{server.address[1]}; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
