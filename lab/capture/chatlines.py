"""What the chat says in each captured payload, read with the kit's own parsers.

Nothing here knows a rule of the wire format: TCP payloads are cut into
lines by :class:`lab.chat.wire.LineDecoder` (the server's own decoder),
client lines are read with :func:`lab.chat.wire.parse_command` and
:func:`lab.chat.wire.check_name`, server lines with
:func:`lab.chat.wire.parse_server_line`, and UDP datagrams with
:func:`lab.udp.datagrams.decode_client` / ``decode_server``.  So ``/who``,
``/m`` and ``/bye`` are described as what they are, because the server
understands them.

Like a receiver, :class:`ChatReader` follows each direction of each TCP
connection as a byte stream: a line cut over two segments is reported with
the segment that completes it.  Retransmitted copies are not read twice; a
gap (a segment the capture missed) or a payload cut by the snaplen starts
the stream over, since bytes are missing.

Every text that comes out has passed through ``wire.clean_text``: escape
sequences in a captured payload never reach the terminal of whoever reads
the annotation.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.chat import wire
from lab.udp import datagrams

SHOWN_CHARS = 60          # a quoted line longer than this is shortened with "..."
MAX_LINES_DESCRIBED = 3   # per packet; the rest is counted
# The capture reads server lines too (history, long messages): more generous
# limits than the server applies to what clients send.
_MAX_LINE = 1 << 16
_MAX_UNTERMINATED = 1 << 20


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def describe_client_line(line: str, naming: bool = False) -> str:
    """What one (clean) line from a client means, in the words of docs/PROTOCOL.md.

    ``naming``: the client has not been welcomed yet, so the line is the
    name it asks for.
    """
    if naming:
        problem = wire.check_name(line)
        if problem:
            return f'asks for the name "{_shown(line)}", which the server refuses ({problem})'
        return f'asks for the name "{_shown(line)}"'
    command = wire.parse_command(line)
    word = line.split(" ", 1)[0]
    if isinstance(command, wire.Say):
        return f'a chat message to everyone: "{_shown(command.text)}"'
    if isinstance(command, wire.PrivateMessage):
        return f'{word}: a private message to {command.to}: "{_shown(command.text)}"'
    if isinstance(command, wire.ListUsers):
        return f"{word}: asks who is online"
    if isinstance(command, wire.Help):
        return f"{word}: asks for the list of commands"
    if isinstance(command, wire.Quit):
        reason = f' ("{_shown(command.reason)}")' if command.reason else ""
        return f"{word}: says goodbye{reason}; the server will answer bye and close"
    return f'the command "{_shown(line)}", which the server refuses: {command.message}'


def describe_server_line(line: str) -> str:
    """What one (clean) line from the server means."""
    parsed = wire.parse_server_line(line)
    if parsed is None:
        return f'"{_shown(line)}" (not a chat server line)'
    if parsed.kind == "public":
        return f"{parsed.name}'s message relayed to everyone: \"{_shown(parsed.text)}\""
    if parsed.kind == "private":
        return f'a private message from {parsed.name}: "{_shown(parsed.text)}"'
    if parsed.kind == "private-echo":
        return f'the copy of a private message to {parsed.name}: "{_shown(parsed.text)}"'
    if parsed.kind == "event":
        if parsed.code == "joined":
            return f"room event: {parsed.name} joined"
        if parsed.code == "left":
            return f"room event: {parsed.name} left ({_shown(parsed.text)})" if parsed.text else \
                f"room event: {parsed.name} left"
        return f'room event: "{_shown(parsed.text)}"'
    code = f" ({parsed.code})" if parsed.code else ""
    if parsed.kind == "error":
        return f'an error for this client{code}: "{_shown(parsed.text)}"'
    return f'information for this client{code}: "{_shown(parsed.text)}"'


def _summary(said: list[str], total: int) -> str:
    more = f" (+{total - len(said)} more lines)" if total > len(said) else ""
    return "; ".join(said) + more


@dataclass
class ChatPart:
    """The chat content of one packet: its lines and what they mean."""

    lines: list            # the complete lines this packet delivers (cleaned)
    meaning: str           # one phrase for the explanation ("" when there is nothing to say)


class ChatReader:
    """Reads the chat in the captured payloads, direction by direction, as the receivers do."""

    def __init__(self) -> None:
        self._decoders: dict = {}
        # stream -> "name" (the client's next line is the name it asks for),
        # "asked" (it asked; a refusal, an error line, makes the next line a name
        # again) or "chat" (welcomed, or the capture missed the start).
        self._naming: dict = {}

    def _decoder(self, key) -> wire.LineDecoder:
        decoder = self._decoders.get(key)
        if decoder is None or decoder.failed:
            decoder = self._decoders[key] = wire.LineDecoder(_MAX_LINE, _MAX_UNTERMINATED)
        return decoder

    def tcp(self, stream: int, role: str, payload: bytes, *, resend: bool = False, gap: bool = False,
            truncated: bool = False, saw_start: bool = True) -> ChatPart:
        """The chat lines one TCP segment completes, and their meaning.

        ``resend``: a retransmitted copy (read on its own, not fed to the
        stream); ``gap``: bytes before it were not captured; ``truncated``:
        the capture kept only part of the payload; ``saw_start``: the
        capture has this connection's SYN (so the client's first line is
        its name).
        """
        key = (stream, role)
        if truncated:
            self._decoders.pop(key, None)
            return ChatPart([], "payload not captured in full (short snaplen), so its lines are not shown")
        if gap:
            self._decoders.pop(key, None)
        if resend:
            decoder = wire.LineDecoder(_MAX_LINE, _MAX_UNTERMINATED)
        else:
            decoder = self._decoder(key)
        events = decoder.feed(payload)
        lines = [e.text for e in events if isinstance(e, wire.Line)]
        too_long = [e for e in events if isinstance(e, wire.LineTooLong)]
        said = []
        self._naming.setdefault(stream, "name" if saw_start else "chat")
        for line in lines:
            if role == "client":
                said.append(describe_client_line(line, self._naming[stream] == "name"))
                if self._naming[stream] == "name":
                    self._naming[stream] = "asked"
            else:
                parsed = wire.parse_server_line(line)
                if parsed is not None and parsed.kind == "info" and parsed.code == "welcome":
                    self._naming[stream] = "chat"
                elif parsed is not None and parsed.kind == "error" and self._naming[stream] == "asked":
                    self._naming[stream] = "name"   # the name was refused: the next line is a name again
                said.append(describe_server_line(line))
        said = said[:MAX_LINES_DESCRIBED]
        meaning = _summary(said, len(lines))
        if too_long:
            meaning += ("; " if meaning else "") + f"a line of {too_long[0].length} bytes"
        if not events and payload:
            meaning = ("part of a line: TCP carries a stream of bytes, and the line ends in a later segment"
                       if not resend else "bytes of a line sent before")
        return ChatPart(lines, meaning)

    def udp(self, role: str, payload: bytes) -> ChatPart:
        """What one datagram of the UDP chat (docs/UDP.md) says; plain text lines otherwise."""
        if role == "client":
            what = datagrams.decode_client(payload)
            if isinstance(what, datagrams.Join):
                if what.cookie is None:
                    return ChatPart([what.name], f'a join request as "{_shown(what.name)}", without a cookie '
                                                 "yet (the server will answer with one)")
                return ChatPart([what.name], f'the join request as "{_shown(what.name)}" again, echoing the '
                                             "server's cookie: this proves the client really receives at its "
                                             "address (UDP has no handshake to prove it)")
            if isinstance(what, datagrams.Keepalive):
                return ChatPart([], 'a keepalive: "I am still here" (no connection exists that could tell '
                                    "the server)")
            if isinstance(what, datagrams.Message):
                line = wire.clean_text(what.payload.decode("utf-8", "replace"))
                return ChatPart([line], f"chat line #{what.seq} of this client: {describe_client_line(line)}")
        else:
            what = datagrams.decode_server(payload)
            if isinstance(what, datagrams.Challenge):
                return ChatPart([], "the server's cookie: \"send your join again with this\". Until the "
                                    "address is proven, the server never sends more bytes than it received "
                                    "(anti-amplification)")
            if isinstance(what, datagrams.ServerLineDatagram):
                line = wire.clean_text(what.line)
                origin = f" (its sender's message #{what.origin})" if what.origin is not None else ""
                return ChatPart([line], f"server line #{what.seq} to this client{origin}: "
                                        f"{describe_server_line(line)}")
        # Not the kit's datagram format: read it as text lines.  A datagram is
        # complete, so its last line ends with it (hence the line end added).
        events = wire.LineDecoder(_MAX_LINE, _MAX_UNTERMINATED).feed(payload + b"\n")
        lines = [e.text for e in events if isinstance(e, wire.Line)]
        describe = describe_client_line if role == "client" else describe_server_line
        said = [describe(line) for line in lines[:MAX_LINES_DESCRIBED]]
        return ChatPart(lines, _summary(said, len(lines)) or "no text")
