"""Exercise 2: framing a byte stream into lines (see exercises/ex02_framing.py)."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.graded.teach import Background, Story, close_quietly, load, tcp_pair

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]


def _feed_all(story: Story, buf, chunks: list[bytes]) -> list[str]:
    lines: list[str] = []
    for chunk in chunks:
        got = story.call(f"feed({chunk!r})", buf.feed, chunk)
        story.step(f"  -> {got!r}")
        lines += got
    return lines


def test_encode_line(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.encode_line")
    got = story.call('encode_line("héllo")', ex.encode_line, "héllo")
    story.check(got == b"h\xc3\xa9llo\r\n", "b'h\\xc3\\xa9llo\\r\\n': the UTF-8 bytes, then CRLF", got)


def test_a_line_split_over_many_recvs(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: one message split by TCP")
    buf = ex.LineBuffer()
    lines = _feed_all(story, buf, [b"hel", b"lo wo", b"rld", b"\n"])
    story.check(lines == ["hello world"], "exactly one line: ['hello world'], returned when its LF arrived", lines)


def test_several_lines_merged_in_one_recv(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: several messages merged by TCP")
    buf = ex.LineBuffer()
    lines = _feed_all(story, buf, [b"one\ntwo\r\nthree\rfour"])
    story.check(lines == ["one", "two", "three"], "['one', 'two', 'three'] (LF, CRLF and a lone CR all end a line)", lines)
    pending = buf.pending
    story.step(f"read pending: {pending!r}")
    story.check(pending == b"four", "b'four' kept for later: its line end has not arrived", pending)
    lines = _feed_all(story, buf, [b"\n"])
    story.check(lines == ["four"], "['four'] once its LF arrived", lines)
    story.check(buf.pending == b"", "nothing pending any more", buf.pending)


def test_crlf_split_between_two_recvs(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: a CRLF cut in the middle")
    buf = ex.LineBuffer()
    lines = _feed_all(story, buf, [b"one\r", b"\ntwo\r\n", b"\r\n"])
    story.check(
        lines == ["one", "two", ""],
        "['one', 'two', ''] -- the \\r at the end of one chunk and the \\n at the start of the next are ONE line end",
        lines,
        "remember that the last line ended with a CR; if the next chunk starts with LF, skip that LF",
    )


def test_utf8_character_split_between_recvs(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: UTF-8 characters cut by TCP")
    buf = ex.LineBuffer()
    data = "héllo wörld €\n".encode()
    lines = _feed_all(story, buf, [bytes([b]) for b in data])
    story.check(
        lines == ["héllo wörld €"],
        "['héllo wörld €'] -- é, ö and € are 2-3 bytes each; decode complete lines, not chunks",
        lines,
    )
    lines = _feed_all(story, ex.LineBuffer(), [b"bad \xff byte\n"])
    story.check(lines == ["bad \ufffd byte"], "the invalid byte 0xff replaced by U+FFFD (errors='replace')", lines)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12), max_size=8),
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
)
def test_any_cutting_gives_the_same_lines(impl, texts, ends, cuts):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: the same bytes, cut anywhere")
    ends = list(ends[: len(texts)])
    for i in range(len(ends) - 1):
        # a lone CR, then an empty line ended by LF, reads as one CRLF: any reader must see it so
        if ends[i] == b"\r" and texts[i + 1] == "" and ends[i + 1].startswith(b"\n"):
            ends[i] = b"\r\n"
    stream = b"".join(t.encode() + e for t, e in zip(texts, ends))
    points = sorted({c for c in cuts if c < len(stream)} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(points, points[1:])]
    story.step(f"the stream {stream!r}")
    story.step(f"cut into chunks {chunks!r}")
    buf = ex.LineBuffer()
    lines: list[str] = []
    for chunk in chunks:
        lines += story.call(f"feed({chunk!r})", buf.feed, chunk)
    story.check(lines == texts, f"the lines {texts!r} whatever the cutting", lines)


def _send_in_random_pieces(sock: socket.socket, data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small segments go out at once
    i = 0
    while i < len(data):
        n = rng.randint(1, 40)
        sock.sendall(data[i:i + n])
        i += n
    sock.shutdown(socket.SHUT_WR)


def test_framing_over_a_real_tcp_connection(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer over TCP")
    expected = [f"message {i}: {'é' * (i % 7)}" for i in range(200)]
    data = b"".join(line.encode() + b"\r\n" for line in expected)
    client, server = tcp_pair()
    try:
        story.step(f"sent {len(expected)} lines ({len(data)} bytes) over 127.0.0.1 in random pieces of 1-40 bytes")
        sender = Background(_send_in_random_pieces, client, data, 7)
        buf = ex.LineBuffer()
        lines: list[str] = []
        recvs = 0
        story.step("fed every recv(4096) result to one LineBuffer")
        while True:
            chunk = server.recv(4096)
            if not chunk:
                break
            recvs += 1
            lines += story.call("feed(<chunk>)", buf.feed, chunk)
        sender.wait(3)
        story.step(f"the receiver needed {recvs} recv() calls for {len(expected)} lines")
        story.check(lines == expected, f"the {len(expected)} lines, intact and in order",
                    f"{len(lines)} lines; first difference: " + next(
                        (f"#{i}: {a!r} != {b!r}" for i, (a, b) in enumerate(zip(lines, expected)) if a != b),
                        "(none in the common part)"))
    finally:
        close_quietly(client, server)
