"""Property-based tests (hypothesis) of the line decoder and the sanitiser."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.chat import wire as p

TERMINATORS = st.sampled_from([b"\n", b"\r\n", b"\r"])
LINE_BYTES = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


def feed_all(decoder, chunks):
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


@st.composite
def stream_and_cuts(draw):
    pieces = draw(st.lists(st.tuples(LINE_BYTES, TERMINATORS), max_size=12))
    stream = b"".join(body + end for body, end in pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return stream, cuts


@settings(max_examples=400, deadline=None)
@given(stream_and_cuts())
def test_chunking_never_changes_the_result(case):
    stream, cuts = case
    bounds = [0] + cuts + [len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    whole = feed_all(p.LineDecoder(), [stream])
    cut = feed_all(p.LineDecoder(), chunks)
    assert cut == whole


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 500))
def test_decoder_output_is_clean_and_within_limits(data, max_line):
    decoder = p.LineDecoder(max_line=max_line, max_unterminated=max_line * 4)
    for event in feed_all(decoder, [data[i:i + 97] for i in range(0, len(data), 97)]):
        if isinstance(event, p.Line):
            assert event.text and event.text == p.clean_text(event.text)
            assert len(event.text.encode("utf-8")) <= max_line * 3  # U+FFFD may triple a byte
        assert len(decoder._buffer) <= max_line


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_clean_text_leaves_no_control_characters(text):
    cleaned = p.clean_text(text)
    assert not CONTROL.search(cleaned)
    assert "\x1b" not in cleaned


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_clean_text_is_idempotent(text):
    once = p.clean_text(text)
    assert p.clean_text(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp")), max_size=100))
def test_clean_text_keeps_printable_text(text):
    assert p.clean_text(text) == text.strip()
