"""What a UDP chat client decides (sans-I/O): ``UdpClientCore`` builds the
join (echoing the server's cookie), numbers the lines to send, and turns the
server's datagrams into clean lines to show while counting lost, duplicated
and reordered ones.  No sockets, no threads.

>>> core = UdpClientCore("alice")
>>> core.join_datagram()[:10]
b'J - alice '
>>> core.receive(b"C 0123abcd\\r\\n"), core.reply[:12]
([], b'J 0123abcd a')
>>> core.receive(b"L 1 - 12:00:00 --- welcome: you are alice\\x1b[2J\\r\\n"), core.joined
(['12:00:00 --- welcome: you are alice'], True)
"""

from __future__ import annotations

from lab.chat import wire as p
from lab.udp.datagrams import Challenge, ServerLineDatagram, decode_server, encode_join, encode_message
from lab.udp.sequence import SequenceTracker


# --- the client's decisions (sans-I/O) ----------------------------------------

class UdpClientCore:
    """What a UDP chat client decides, with no socket.

    ``join_datagram()`` is what to send (again, until ``joined``);
    ``receive(data)`` takes a datagram from the server and returns the
    server lines to show, cleaned with ``wire.clean_text`` (a forged
    datagram may carry escape codes), and may set ``reply`` to a datagram to
    send at once; ``line(text)`` numbers a line to send.  ``downstream``
    counts the server's lines to us; ``origins[name]`` counts chat messages
    per sender.
    """

    def __init__(self, name: str):
        self.name = name
        self.cookie: str | None = None
        self.joined = False
        self.refused: str | None = None  # the server's reason, when a name is refused
        self.seq = 0
        self.downstream = SequenceTracker()
        self.origins: dict[str, SequenceTracker] = {}
        self.reply: bytes | None = None

    def join_datagram(self) -> bytes:
        """The join to send (with the cookie once the server gave one)."""
        return encode_join(self.name, self.cookie)

    def rename(self, name: str) -> None:
        """Try another name after a refusal."""
        self.name, self.refused = name, None

    def line(self, text: str) -> bytes:
        """The next numbered line (ValueError if it does not fit in one datagram)."""
        data = encode_message(self.seq + 1, text)
        self.seq += 1
        return data

    def receive(self, data: bytes) -> list[str]:
        """A datagram from the server: the clean lines to show, in arrival order."""
        self.reply = None
        what = decode_server(data)
        if isinstance(what, Challenge):
            self.cookie = what.cookie
            # Joined but challenged: the server forgot us (restart or expiry).
            self.joined = False
            self.reply = self.join_datagram()
            return []
        if not isinstance(what, ServerLineDatagram):
            return []
        # SEQ 0: a line to an address that is not a member (server-full), outside the numbering
        if what.seq and self.downstream.add(what.seq) == "duplicate":
            return []
        line = p.clean_text(what.line)
        parsed = p.parse_server_line(line)
        if parsed is not None:
            if parsed.kind == "info" and parsed.code == "welcome":
                self.joined = True
            if parsed.kind == "error" and parsed.code in ("name-taken", "name-invalid") and not self.joined:
                self.refused = parsed.text
            if what.origin is not None and parsed.name:
                self.origins.setdefault(parsed.name, SequenceTracker()).add(what.origin)
        return [line] if line else []
