"""lab.craft.diagnose: each classic mistake, made in a copy of the recorded capture, explained."""

from __future__ import annotations

from lab.craft.diagnose import diagnose
from tests.craft.recorded import SERVER, connections


def _client_segments():
    (client, segments), _ = connections()
    return client, segments


def test_diagnose_accepts_what_linux_did():
    client, segments = _client_segments()
    verdict = diagnose(segments, client, SERVER)
    assert verdict.ok and verdict.closed, verdict.explain()


def _changed(segment, **fields):
    from dataclasses import replace

    return replace(segment, **fields)


def test_diagnose_explains_an_ack_equal_to_the_isn():
    client, segments = _client_segments()
    wrong = list(segments[:2]) + [_changed(segments[2], ack=segments[1].seq),
                                  _changed(segments[1], flags=0x04, seq=segments[1].seq, ack=0)]
    verdict = diagnose(wrong, client, SERVER)
    assert verdict.problems[0].startswith("the server answered with RST: your ACK number was ISN+0, expected ISN+1")


def test_diagnose_explains_data_at_the_isn():
    client, segments = _client_segments()
    isn = segments[0].seq
    wrong = list(segments[:5]) + [_changed(segments[5], seq=isn)] + list(segments[6:])
    text = diagnose(wrong, client, SERVER).problems[0]
    assert "had seq = your ISN+0, expected ISN+1: the SYN consumed one sequence number" in text


def test_diagnose_explains_a_fin_acknowledged_without_its_one():
    client, segments = _client_segments()
    last = segments[-1]
    wrong = list(segments[:-1]) + [_changed(last, ack=last.ack - 1)]
    text = diagnose(wrong, client, SERVER).problems[0]
    assert "expected ISN+147: the server's FIN counts as one sequence number" in text


def test_diagnose_explains_an_ack_that_ignores_the_hello_line():
    client, segments = _client_segments()
    hello = segments[3]
    wrong = list(segments[:4]) + [_changed(segments[4], ack=hello.seq), _changed(segments[5], ack=hello.seq)]
    text = diagnose(wrong, client, SERVER).problems[0]
    assert "answers the server's hello line, which ended at ISN+62" in text


def test_diagnose_without_an_answer():
    client, segments = _client_segments()
    assert "never answered your SYN" in diagnose(segments[:1], client, SERVER).problems[0]
    assert "no SYN" in diagnose([], client, SERVER).problems[0]
