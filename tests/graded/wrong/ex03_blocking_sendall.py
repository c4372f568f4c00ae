"""ex03's old reference answer: copy the list under the lock, then a blocking sendall to each member.

The lock is not held while sending, which the old lesson called the rule
that protects the room.  It does not: the thread that relays alice's line
still waits inside ``sendall`` to a member that stopped reading, for as long
as that member does not read, and alice's later lines wait behind it.  Lines
to one member can also interleave when two threads send to it at once.
What protects the room is a bounded send, and the slow member dropped.
"""

import socket

from .chatwire import read_lines, server_line

EXERCISE = "ex03_broadcast"
MUST_FAIL = ["test_a_member_that_stops_reading_is_dropped"]


def _serve_client(self, conn: socket.socket, address: tuple[str, int]) -> None:
    name = None
    how = "closed"
    try:
        conn.settimeout(None)
        conn.sendall(server_line("---", "hello: welcome! What is your name?"))
        for text in read_lines(conn):
            text = text.strip()
            if not text:
                continue
            if name is None:
                name = text
                with self.lock:
                    self.clients[conn] = name
                conn.sendall(server_line("---", f"welcome: you are {name}"))
                self.broadcast(server_line("***", f"{name} joined"), exclude=conn)
            elif text == "/quit":
                conn.sendall(server_line("---", "bye: see you"))
                how = "quit"
                break
            else:
                self.broadcast(server_line(f"<{name}>", text), exclude=conn)
    except ConnectionResetError:
        how = "reset"
    except OSError:
        how = "closed"
    finally:
        with self.lock:
            self.clients.pop(conn, None)
        if name is not None:
            self.broadcast(server_line("***", f"{name} left ({how})"), exclude=conn)
        conn.close()


def broadcast(self, line: bytes, exclude: socket.socket | None = None) -> None:
    with self.lock:
        targets = [conn for conn in self.clients if conn is not exclude]
    for conn in targets:
        try:
            conn.sendall(line)  # blocks while this member's buffers are full
        except OSError:
            pass


def apply(module) -> None:
    module.BroadcastServer._serve_client = _serve_client
    module.BroadcastServer.broadcast = broadcast
