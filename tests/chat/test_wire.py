"""The sans-I/O protocol: decoding, cleaning, names, commands, server lines."""

from __future__ import annotations

import itertools

import pytest

from lab.chat import replies
from lab.chat import wire as p


def decode_in_chunks(chunks, **limits):
    decoder = p.LineDecoder(**limits)
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


def lines(events):
    return [e.text for e in events if isinstance(e, p.Line)]


STREAM = b"hello\r\nsecond line\nthird\rfourth\r\n\r\nlast\n"
EXPECTED = ["hello", "second line", "third", "fourth", "last"]


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_a_stream_cut_anywhere_gives_the_same_lines(cut):
    # TCP may split a message across two recv() calls at any byte.
    assert lines(decode_in_chunks([STREAM[:cut], STREAM[cut:]])) == EXPECTED


@pytest.mark.parametrize("first,second", list(itertools.combinations(range(1, len(STREAM)), 2)))
def test_a_stream_cut_in_three_anywhere_gives_the_same_lines(first, second):
    chunks = [STREAM[:first], STREAM[first:second], STREAM[second:]]
    assert lines(decode_in_chunks(chunks)) == EXPECTED


def test_one_byte_at_a_time():
    assert lines(decode_in_chunks([bytes([b]) for b in STREAM])) == EXPECTED


def test_many_messages_merged_in_one_recv():
    merged = b"".join(f"message {i}\n".encode() for i in range(100))
    assert lines(decode_in_chunks([merged])) == [f"message {i}" for i in range(100)]


def test_unfinished_line_waits_for_its_end():
    decoder = p.LineDecoder()
    assert decoder.feed(b"no end yet") == []
    assert decoder.feed(b" - now\n") == [p.Line("no end yet - now")]


def test_lone_cr_then_lf_in_next_chunk_is_one_line_end():
    assert lines(decode_in_chunks([b"a\r", b"\nb\r", b"\n"])) == ["a", "b"]


def test_cr_cr_is_an_empty_line_not_a_crlf():
    assert lines(decode_in_chunks([b"a\r", b"\rb\n"])) == ["a", "b"]


def test_empty_and_blank_lines_are_skipped():
    assert lines(decode_in_chunks([b"\n\r\n   \n\t\nx\n"])) == ["x"]


def test_multibyte_utf8_split_between_chunks():
    data = "héllo wörld ✓\n".encode()
    for cut in range(len(data) + 1):
        assert lines(decode_in_chunks([data[:cut], data[cut:]])) == ["héllo wörld ✓"]


def test_invalid_utf8_is_replaced_never_passed_on():
    assert lines(decode_in_chunks([b"bad \xc3\x28 byte \xfe\n"])) == ["bad \ufffd( byte \ufffd"]


def test_nul_bytes_are_dropped():
    assert lines(decode_in_chunks([b"a\0b\0\n"])) == ["ab"]


@pytest.mark.parametrize("telnet", [
    b"\xff\xfb\x01",  # IAC WILL ECHO
    b"\xff\xfd\x03",  # IAC DO SUPPRESS-GO-AHEAD
    b"\xff\xf4",  # IAC IP (what telnet sends for Ctrl-C)
    b"\xff\xfa\x18\x01\xff\xf0",  # IAC SB TERMINAL-TYPE SEND IAC SE
    b"\xff\xff",  # IAC IAC, an escaped 255
])
def test_telnet_commands_are_dropped(telnet):
    data = b"he" + telnet + b"llo\n"
    for cut in range(len(data) + 1):
        assert lines(decode_in_chunks([data[:cut], data[cut:]])) == ["hello"]


def test_oversized_line_is_reported_once_and_the_next_line_works():
    events = decode_in_chunks([b"x" * 1500, b"y" * 100 + b"\nnext\n"], max_line=1024)
    assert events == [p.LineTooLong(1600, 1024), p.Line("next")]


def test_line_exactly_at_the_limit_passes():
    assert lines(decode_in_chunks([b"x" * 1024 + b"\n"], max_line=1024)) == ["x" * 1024]


def test_no_line_end_beyond_the_bound_fails_the_stream():
    decoder = p.LineDecoder(max_line=100, max_unterminated=1000)
    events = []
    for _ in range(20):
        events += decoder.feed(b"z" * 100)
    assert events == [p.NoLineEnd(1000)]
    assert decoder.failed
    assert decoder.feed(b"more\n") == []


def test_memory_stays_bounded_while_discarding():
    decoder = p.LineDecoder(max_line=100, max_unterminated=10_000)
    for _ in range(99):
        decoder.feed(b"a" * 100)
    assert len(decoder._buffer) <= 100


# --- cleaning ------------------------------------------------------------------

@pytest.mark.parametrize("dirty,clean", [
    ("plain text", "plain text"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("\x1b[2J\x1b[Hwipe", "wipe"),
    ("title\x1b]0;pwned\x07!", "title!"),
    ("link \x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\", "link here"),
    ("bell\x07 backspace\x08", "bell backspace"),
    ("c1 \x9b31m csi", "c1  csi"),
    ("tab\there", "tab here"),
    ("bidi \u202egnp.exe", "bidi gnp.exe"),
    ("[bold red]markup[/]", "[bold red]markup[/]"),  # markup is text; shown literally
    ("  padded  ", "padded"),
    ("unfinished \x1b[", "unfinished"),
    ("del\x7f", "del"),
    ("line\u2028break", "linebreak"),
])
def test_clean_text(dirty, clean):
    assert p.clean_text(dirty) == clean


# --- names ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "Bob", "x", "a_b-c", "A" * 16, "z9"])
def test_valid_names(name):
    assert p.check_name(name) is None


@pytest.mark.parametrize("name", ["", "9lives", "_x", "a b", "A" * 17, "<b>", "ünï", "a*b", "[red]"])
def test_invalid_names_say_why(name):
    reason = p.check_name(name)
    assert reason is not None and "letter" in reason


def test_name_key_ignores_case():
    assert p.name_key("Alice") == p.name_key("aLICE")


# --- commands ------------------------------------------------------------------

@pytest.mark.parametrize("text,command", [
    ("hello", p.Say("hello")),
    ("//slash", p.Say("/slash")),
    ("/msg bob hi there", p.PrivateMessage("bob", "hi there")),
    ("/MSG bob hi", p.PrivateMessage("bob", "hi")),
    ("/list", p.ListUsers()),
    ("/help", p.Help()),
    ("/quit", p.Quit("")),
    ("/quit see you", p.Quit("see you")),
])
def test_parse_command(text, command):
    assert p.parse_command(text) == command


@pytest.mark.parametrize("text,code", [("/msg", "usage"), ("/msg bob", "usage"), ("/dance", "unknown-command")])
def test_bad_commands(text, code):
    command = p.parse_command(text)
    assert isinstance(command, p.BadCommand) and command.code == code


# --- server lines ------------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize("line,kind,name,code,text", [
    (p.format_public(NOW, "alice", "hi <all>"), "public", "alice", None, "hi <all>"),
    (p.format_private(NOW, "bob", "psst"), "private", "bob", None, "psst"),
    (p.format_private_echo(NOW, "bob", "psst"), "private-echo", "bob", None, "psst"),
    (p.format_joined(NOW, "carol"), "event", "carol", "joined", ""),
    (p.format_left(NOW, "carol", replies.REASON_RESET), "event", "carol", "left", replies.REASON_RESET),
    (p.format_info(NOW, "list", "2 online: a, b"), "info", None, "list", "2 online: a, b"),
    (p.format_error(NOW, "name-taken", "'a' is online"), "error", None, "name-taken", "'a' is online"),
])
def test_server_lines_round_trip(line, kind, name, code, text):
    parsed = p.parse_server_line(line)
    assert (parsed.kind, parsed.name, parsed.code, parsed.text) == (kind, name, code, text)
    assert parsed.time == p.timestamp(NOW)


def test_encode_ends_with_crlf():
    assert p.encode("x") == b"x\r\n"


def test_lines_that_are_not_protocol_are_none():
    assert p.parse_server_line("hello") is None


def test_reason_keyword():
    assert p.reason_keyword(replies.REASON_RESET) == "reset"
    assert p.reason_keyword(replies.reason_quit("bye: all")) == "quit"
