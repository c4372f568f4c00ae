"""The Lesson: starts everything a notebook needs, and cleans all of it up."""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Callable

from lab.notebook.capture import Capture
from lab.notebook.display import Events, note, show, table
from lab.notebook.settings import FORCE_RECORDED_ENV, HOST
from lab.notebook.tcp_vs_udp import remove_stale_netlabs
from lab.peer import Peer, PeerProcess


class Lesson:
    """One notebook's resources, stopped by ``cleanup()``, at exit, and on failure inside helpers."""

    def __init__(self, title: str):
        self.title = title
        self._resources: list[tuple[str, Callable[[], None]]] = []
        self._servers: list = []  # the ChatServers it started: their reader threads are not in threading.enumerate()
        self._lock = threading.Lock()
        atexit.register(self.cleanup, quiet=True)
        from lab.capture.sniffer import capture_problem
        from lab.net.netlab import privilege_problem

        self.capture_problem = capture_problem("lo")
        self.netns_problem = privilege_problem()
        if os.environ.get(FORCE_RECORDED_ENV):
            self.capture_problem = self.netns_problem = f"{FORCE_RECORDED_ENV}=1 is set"
        for prefix in remove_stale_netlabs():
            note(f"removed the emulated network {prefix!r} left by a notebook kernel that was killed", "info")
        rows = [{"what": "packet capture on lo",
                 "status": "yes (live)" if self.capture_problem is None else
                 f"no: {self.capture_problem}; RECORDED captures are used instead"},
                {"what": "emulated network (namespaces)",
                 "status": "yes" if self.netns_problem is None else f"no: {self.netns_problem}"},
                {"what": "Python", "status": sys.version.split()[0]}]
        show(table(rows, f"Lesson {title}: what this machine allows", ["what", "status"]))

    # -- bookkeeping ------------------------------------------------------------------------
    def track(self, what: str, close: Callable[[], None]) -> None:
        """Remember something to stop at cleanup (stopped in reverse order)."""
        with self._lock:
            self._resources.append((what, close))

    def cleanup(self, quiet: bool = False) -> list[str]:
        """Stop everything this lesson started (idempotent); returns what was stopped."""
        with self._lock:
            resources, self._resources = self._resources, []
        stopped = []
        for what, close in reversed(resources):
            try:
                close()
                stopped.append(what)
            except Exception as exc:  # one failure must not keep the rest running
                stopped.append(f"{what} (while stopping: {exc})")
        if not quiet:
            print(f"stopped {len(stopped)} thing(s): " + (", ".join(stopped) if stopped else "nothing was running"))
            leftover = [t.name for t in threading.enumerate() if t.name.startswith(("client-", "accept", "naive"))]
            leftover += [name for server in self._servers for name in server.thread_names() if name not in leftover]
            print("server threads still running:", leftover or "none")
        return stopped

    # -- things a lesson starts --------------------------------------------------------
    def server(self, verbosity: int = 0, **config):
        """A started lab.tcp.server.ChatServer on 127.0.0.1 (a free port unless ``port=``)."""
        from lab.lifecycle import EventLog
        from lab.tcp.server import ChatServer, ServerConfig

        config.setdefault("host", HOST)
        config.setdefault("port", 0)
        config.setdefault("shutdown_grace", 0.3)
        log = EventLog(verbosity=0)
        if verbosity:   # shown as the lesson shows events (HTML in a notebook), not as rich's wide text
            log.subscribe(lambda event: show(Events([event])) if event.level <= verbosity else None)
        server = ChatServer(ServerConfig(**config), log=log)
        server.start()
        self._servers.append(server)
        self.track(f"chat server {config['host']}:{server.address[1]}", server.stop)
        return server

    def peer(self, server_or_address, name: str | None = None, **kwargs) -> Peer:
        """A lab.peer.Peer connected (and joined as ``name``) to a server or (host, port)."""
        address = server_or_address.address if hasattr(server_or_address, "address") else server_or_address
        peer = Peer(address, name, **kwargs)
        self.track(f"client {name or peer.local[1]}", peer.close)
        return peer

    def process_client(self, server, name: str, mode: str = "reads") -> PeerProcess:
        """A chat client in its own process (lab.peer.PeerProcess): ``mode`` "reads" or "stalled"."""
        child = PeerProcess(server.address[1], name, mode)
        self.track(f"client process {name} (pid {child.proc.pid})", child.stop)
        return child

    def capture(self, port: int, name: str, live: bool = True, iface: str = "lo", netns: str | None = None) -> Capture:
        """Capture the packets of ``port`` on ``iface`` (of namespace ``netns``): live if permitted, else the recording ``name``."""
        cap = Capture(port, name, iface=iface, live=live, netns=netns)
        self.track(f"capture {name}", cap.stop)
        return cap

    def tcp_pair(self, rcvbuf: int | None = None, nodelay: bool = True,
                 listener: socket.socket | None = None) -> tuple[socket.socket, socket.socket, int]:
        """A connected pair of plain TCP sockets on 127.0.0.1: (client, server side, port).

        ``rcvbuf`` sets SO_RCVBUF on the receiving (server) side before the
        handshake, so the small window is offered from the first segment.
        With ``listener`` (from ``self.listener()``) the pair is made on that
        listening socket, which stays open; otherwise a throw-away one is used.
        """
        own = listener is None
        listener = listener or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if own:
                if rcvbuf:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by accept()
                listener.bind((HOST, 0))
                listener.listen(1)
            port = listener.getsockname()[1]
            client.settimeout(5)
            client.connect((HOST, port))
            listener.settimeout(5)
            server_side, _ = listener.accept()
        except BaseException:
            client.close()
            raise
        finally:
            if own:
                listener.close()
        for s in (client, server_side):
            s.settimeout(None)
            if nodelay:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.track(f"socket pair port {port}", lambda: (client.close(), server_side.close()))
        return client, server_side, port

    def listener(self, reuseaddr: bool = True) -> socket.socket:
        """A listening socket on 127.0.0.1 and a free port, closed at cleanup."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if reuseaddr:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
            sock.listen(8)
        except BaseException:
            sock.close()
            raise
        self.track(f"listening socket {sock.getsockname()[1]}", sock.close)
        return sock

    def close_later(self, sock: socket.socket, what: str = "socket") -> socket.socket:
        """Register any socket the notebook made itself."""
        self.track(what, sock.close)
        return sock

    def tempdir(self) -> Path:
        """A temporary directory, removed at cleanup."""
        import shutil
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="chatlab-lesson-"))
        self.track(f"temporary directory {path}", lambda: shutil.rmtree(path, ignore_errors=True))
        return path
