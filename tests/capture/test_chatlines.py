"""What the annotator says about chat lines comes from the kit's own wire parser."""

from __future__ import annotations

import re
from pathlib import Path

from lab.capture import annotate
from lab.capture.chatlines import ChatReader, describe_client_line, describe_server_line
from lab.capture.decode import ACK, PSH, SYN, Segment
from lab.chat import wire
from lab.udp import datagrams

CAPTURE = Path(__file__).resolve().parents[2] / "lab" / "capture"


def test_every_command_alias_the_server_knows_is_described_as_that_command():
    # /who, /m and /bye were "unknown commands" when the annotator matched prefixes.
    assert describe_client_line("/who") == "/who: asks who is online"
    assert describe_client_line("/list") == "/list: asks who is online"
    assert describe_client_line("/m bob hi there") == '/m: a private message to bob: "hi there"'
    assert describe_client_line("/bye see you").startswith('/bye: says goodbye ("see you")')
    assert describe_client_line("/help").startswith("/help: asks for the list")
    assert describe_client_line("//not a command") == 'a chat message to everyone: "/not a command"'
    refused = describe_client_line("/frobnicate")
    assert "refuses" in refused and "is not a command" in refused
    assert describe_client_line("/msg bob").endswith("usage: /msg NAME TEXT")


def test_names_are_checked_with_the_servers_rule():
    assert describe_client_line("alice", naming=True) == 'asks for the name "alice"'
    assert "refuses" in describe_client_line("9lives", naming=True)


def test_server_lines_are_read_with_parse_server_line():
    now = 0.0
    assert "bob's message relayed" in describe_server_line(wire.format_public(now, "bob", "hi"))
    assert describe_server_line(wire.format_joined(now, "carol")) == "room event: carol joined"
    assert describe_server_line(wire.format_left(now, "carol", "reset: the connection was reset, RST")).startswith("room event: carol left (")
    assert "(name-taken)" in describe_server_line(wire.format_error(now, "name-taken", "choose another"))
    assert describe_server_line("not a server line").endswith("(not a chat server line)")


def test_a_line_split_over_two_segments_is_reported_once_whole():
    reader = ChatReader()
    first = reader.tcp(0, "client", b"hello ev", saw_start=False)
    second = reader.tcp(0, "client", b"eryone\r\n/who\n", saw_start=False)
    assert first.lines == [] and "part of a line" in first.meaning
    assert second.lines == ["hello everyone", "/who"]
    assert "asks who is online" in second.meaning


def test_the_client_names_itself_until_the_server_welcomes_it():
    reader = ChatReader()
    assert "asks for the name" in reader.tcp(0, "client", b"taken\n").meaning
    reader.tcp(0, "server", wire.encode(wire.format_error(0, "name-taken", "'taken' is online")))
    assert "asks for the name" in reader.tcp(0, "client", b"alice\n").meaning
    reader.tcp(0, "server", wire.encode(wire.format_info(0, "welcome", "you are alice")))
    assert "chat message to everyone" in reader.tcp(0, "client", b"alice\n").meaning
    # a server that never answers (a plain line server): only the first line is a name
    other = ChatReader()
    assert "asks for the name" in other.tcp(1, "client", b"bob\n").meaning
    assert "chat message to everyone" in other.tcp(1, "client", b"hello\n").meaning


def test_escape_sequences_in_a_payload_never_reach_the_annotation():
    reader = ChatReader()
    part = reader.tcp(0, "client", b"\x1b[2J\x1b]0;pwned\x07hi\n", saw_start=False)
    assert part.lines == ["hi"] and "\x1b" not in part.meaning


def test_udp_datagrams_are_decoded_by_lab_udp_datagrams():
    reader = ChatReader()
    join = reader.udp("client", datagrams.encode_join("alice"))
    assert "without a cookie" in join.meaning and join.lines == ["alice"]
    line = reader.udp("server", datagrams.encode_server_line(3, 2, wire.format_public(0, "bob", "hi")))
    assert line.meaning.startswith("server line #3 to this client (its sender's message #2): bob's message")
    msg = reader.udp("client", datagrams.encode_message(4, "/who"))
    assert msg.meaning == "chat line #4 of this client: /who: asks who is online"


def test_a_tcp_capture_describes_aliases_end_to_end():
    def seg(n, sport, dport, seq, ack, flags, payload=b""):
        return Segment(n, n * 1000, "tcp", "127.0.0.1", "127.0.0.1", sport, dport, payload, seq, ack, flags, 512)
    c, s = 40000, 5050
    anns = annotate([
        seg(1, c, s, 100, 0, SYN), seg(2, s, c, 500, 101, SYN | ACK), seg(3, c, s, 101, 501, ACK),
        seg(4, c, s, 101, 501, ACK | PSH, b"alice\n"),
        seg(5, s, c, 501, 107, ACK | PSH, wire.encode(wire.format_info(0, "welcome", "you are alice"))),
        seg(6, c, s, 107, 501 + 36, ACK | PSH, b"/who\n/m bob psst\n/bye\n"),
    ], {s})
    said = anns[5].annotation
    assert "/who: asks who is online" in said and "/m: a private message to bob" in said and "/bye: says goodbye" in said
    assert anns[3].text == ["alice"] and 'asks for the name "alice"' in anns[3].annotation


def test_no_copy_of_a_wire_rule_in_lab_capture():
    """The capture package parses chat lines only through lab.chat.wire and lab.udp.datagrams."""
    for path in CAPTURE.glob("*.py"):
        source = path.read_text()
        assert "re.compile" not in source, f"{path.name} has its own regular expression"
        assert not re.search(r"startswith\(\s*['\"]/[a-z]", source), f"{path.name} recognises commands by prefix"
        assert "SERVER_LINE" not in source and r"\r\n|\n" not in source, path.name
