"""Exercise 2: framing a byte stream into lines (see exercises/ex02_framing.py)."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.graded.teach import Background, Story, close_quietly, load, tcp_pair
from tests.graded.workmeter import OverBudget, WorkMeter, _counting

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


def _short(items) -> str:
    """A list of events (or of lists of them) for a message: long lines cut to 50 characters."""
    def one(item):
        if isinstance(item, list):
            return "[" + ", ".join(one(i) for i in item) + "]"
        text = repr(item)
        return text if len(text) <= 50 else f"{text[:40]}...' ({len(item)} characters)"
    return one(list(items))


def test_a_line_over_the_limit_is_discarded_and_reported(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: a line over the limit")
    buf = story.call("LineBuffer()", ex.LineBuffer)
    stream = b"ok\n" + b"x" * 3000 + b"\r\n" + b"after\n"
    chunks = [stream[i:i + 500] for i in range(0, len(stream), 500)]
    story.step(f"fed b'ok\\n', a line of 3000 bytes + CRLF, then b'after\\n', in {len(chunks)} chunks of 500 bytes")
    events, most_kept = [], 0
    for chunk in chunks:
        events += story.call("feed(<500 bytes>)", buf.feed, chunk)
        most_kept = max(most_kept, len(buf.pending))
    wanted = ["ok", ex.LineTooLong(3000, 1024), "after"]
    story.check(events == wanted,
                f"{wanted!r}: the long line discarded and reported once, when its line end came, and the "
                "session going on with the next line", _short(events),
                "count the bytes of the current line; past max_line stop keeping them, and at its line end "
                "return LineTooLong(length, max_line) instead of the text")
    story.check(most_kept <= 1024, "pending never longer than max_line (1024): a discarded line is not kept",
                f"pending held {most_kept} bytes at most")


def test_the_limit_is_1024_bytes(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: the documented line limit")
    buf = ex.LineBuffer()
    story.step("fed a line of exactly 1024 bytes, then one of 1025 (docs/PROTOCOL.md: 1024 bytes, line end not counted)")
    events = story.call("feed(b'a' * 1024 + b'\\n' + b'b' * 1025 + b'\\n')", buf.feed,
                        b"a" * 1024 + b"\n" + b"b" * 1025 + b"\n")
    story.check(len(events) == 2 and events[0] == "a" * 1024,
                "the 1024-byte line returned whole: the limit is 1024, not 1023", _short(events))
    story.check(events[1] == ex.LineTooLong(1025, 1024), "LineTooLong(length=1025, limit=1024) for the next one",
                _short(events[1:]))


def test_a_flood_without_line_end_gives_up(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: bytes that never end a line")
    buf = ex.LineBuffer()
    events = story.call("feed(b'hi\\n')", buf.feed, b"hi\n")
    seen = []
    for n in range(10):
        got = story.call(f"feed(<1000 bytes, no line end>) #{n + 1}", buf.feed, b"y" * 1000)
        seen.append(got)
        story.check(len(buf.pending) <= 1024, "pending never longer than max_line (1024)",
                    f"{len(buf.pending)} bytes pending after {1000 * (n + 1)} bytes without a line end")
    gave_up = [n for n, got in enumerate(seen) if got]
    story.step(f"the feeds returned: {[got for got in seen if got] or 'nothing'} (at feed #{[n + 1 for n in gave_up]})")
    story.check(events == ["hi"] and seen[8] == [ex.NoLineEnd(8192)] and gave_up == [8],
                "NoLineEnd(limit=8192) returned once, by the 9th feed: the one that brought the bytes since "
                "the last line end to 9000, more than 8192", _short(seen),
                "count the bytes since the last line end, kept or not; past max_unterminated give up")
    after = story.call("feed(b'\\nmore\\n') after giving up", buf.feed, b"\nmore\n")
    story.check(after == [], "[]: after NoLineEnd the buffer accepts nothing more (the server drops that client)",
                after)


WORK_PER_BYTE = 200  # steps allowed per byte fed: a linear feed() takes well under 50
WORK_BASE = 10_000


def _feed_bytewise(story: Story, ex, limits: dict, data: bytes) -> list:
    """LineBuffer(**LIMITS), fed DATA one byte at a time while a WorkMeter counts; the events."""
    meter = WorkMeter(ex.LineBuffer.__init__, ex.LineBuffer.feed)
    events: list = []
    fed = 0
    try:
        with meter.watching():  # the buffer is made inside, so the bytearray its __init__ makes counts too
            buf = ex.LineBuffer(**limits)
            for i in range(len(data)):
                meter.limit = WORK_PER_BYTE * (fed + 1) + WORK_BASE
                events += buf.feed(_counting(data[i:i + 1]))
                fed += 1
    except OverBudget:
        story.fail(
            f"feed() to take a bounded number of steps per byte (at most {WORK_PER_BYTE} per byte fed, "
            "whatever the length of the line so far)",
            f"after {fed} bytes fed one at a time, feed() had taken {meter.total} steps ({meter.lines} Python "
            f"lines, {meter.examined} bytes examined): each call looks at (or copies) the whole pending line again, "
            f"so a line of n bytes costs about n * n / 2",
            "the pending bytes were searched when they arrived and hold no line end: search only the new "
            "bytes, and keep the line in a bytearray (bytes + bytes copies both every time)",
        )
    except Exception as exc:
        error = exc
        story.fail("LineBuffer() and feed() to return", f"it raised {type(error).__name__}: {error}")
    story.step(f"fed {fed} bytes one at a time: {meter.total} steps ({meter.lines} Python lines, "
               f"{meter.examined} bytes examined), {meter.total / max(fed, 1):.0f} per byte")
    return events


def test_feeding_one_byte_at_a_time_costs_linear_work(impl):
    ex = load(impl, "ex02_framing")
    story = Story("ex02_framing.LineBuffer: the work of feed(), counted")
    line = bytes(97 + i % 26 for i in range(20_000))
    story.step("made LineBuffer(max_line=100_000, max_unterminated=200_000) and fed it a line of 20,000 bytes "
               "and its LF one byte at a time (a peer sending one byte per segment), counting the steps of feed()")
    events = _feed_bytewise(story, ex, {"max_line": 100_000, "max_unterminated": 200_000}, line + b"\n")
    story.check(events == [line.decode()], "the 20,000-byte line once its LF arrived", _short(events))
    story.step("then, with the default limits, a line of 8,000 bytes (over the 1024-byte limit) one byte at a time")
    events = _feed_bytewise(story, ex, {}, b"z" * 8000 + b"\n")
    story.check(len(events) == 1, "one item for the one line (LineTooLong: the line is over the limit)",
                _short(events))
