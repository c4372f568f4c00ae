"""lab.craft's decisions, without a socket: the hand-kept TCB, the forged RST's numbers, the diagnosis, nstat."""

from __future__ import annotations

import ast
import csv
import doctest
import importlib
from pathlib import Path

import pytest

from lab.capture import read_pcap
from lab.craft.counters import changes, parse_nstat
from lab.craft.diagnose import diagnose
from lab.craft.forge import OUTSIDE_OFFSET, classify, next_seq, reset_plan
from lab.craft.guard import guard_ruleset, parse_dropped
from lab.craft.tcb import HandConnection, Seen, consumed, seq_diff

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "graded" / "fixtures" / "ex11" / "chat.pcap"
SERVER = ("10.77.0.2", 5050)
PURE = ["lab.craft.tcb", "lab.craft.forge", "lab.craft.guard", "lab.craft.counters"]


@pytest.mark.parametrize("name", PURE)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", PURE + ["lab.craft.diagnose"])
def test_sans_io_modules_import_no_socket_or_scapy(name):
    path = ROOT / (name.replace(".", "/") + ".py")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"socket", "scapy", "subprocess", "threading", "select"}, imported


def _connections():
    segments = read_pcap(CAPTURE)
    by_client: dict = {}
    for seg in segments:
        client = (seg.src, seg.sport) if seg.dport == SERVER[1] else (seg.dst, seg.dport)
        by_client.setdefault(client, []).append(seg)
    return list(by_client.items())


def test_the_kit_reads_the_capture_as_tshark_does():
    rows = list(csv.DictReader((CAPTURE.parent / "chat.tshark.tsv").open(), delimiter="\t"))
    segments = read_pcap(CAPTURE)
    assert len(rows) == len(segments)
    for row, seg in zip(rows, segments):
        assert (seg.seq, seg.ack, seg.length, seg.flags) == (int(row["tcp.seq_raw"]), int(row["tcp.ack_raw"]),
                                                            int(row["tcp.len"]), int(row["tcp.flags"], 16))


def test_a_hand_kept_tcb_predicts_every_packet_linux_sent():
    """Fed the server's segments, HandConnection answers with the seq and ack the client's kernel used."""
    (client, segments), _ = _connections()
    syn = segments[0]
    tcb = HandConnection(client, SERVER, isn=syn.seq)
    assert tcb.syn().seq == syn.seq
    for seg in segments[1:]:
        if (seg.src, seg.sport) == SERVER:
            tcb.receive(Seen.of(seg))
            continue
        assert (seg.seq, seg.ack) == (tcb.snd_nxt, tcb.rcv_nxt), f"frame {seg.number}"
        if seg.length:
            tcb.send(seg.payload)
        elif seg.flags & 0x01:
            tcb.close()
    assert tcb.state == "TIME-WAIT"
    assert tcb.lines[0].endswith("What is your name?")


def test_tcb_rules():
    tcb = HandConnection(("10.77.1.2", 61000), SERVER, isn=2**32 - 1)
    assert tcb.syn().seq == 2**32 - 1 and tcb.snd_nxt == 0  # wraps
    (reset,) = tcb.receive(Seen("SA", seq=10, ack=5))  # acknowledges something we never sent
    assert reset.flags == "R" and reset.seq == 5 and tcb.state == "SYN-SENT"
    (ack,) = tcb.receive(Seen("SA", seq=10, ack=0))
    assert (ack.seq, ack.ack, tcb.state) == (0, 11, "ESTABLISHED")
    out_of_order = tcb.receive(Seen("PA", seq=20, ack=0, payload=b"x"))
    assert out_of_order[0].ack == 11 and tcb.received == b""  # a duplicate ACK, nothing taken
    tcb.receive(Seen("R", seq=12))  # in the window, not exact: no reset (RFC 5961)
    assert tcb.state == "ESTABLISHED"
    tcb.receive(Seen("R", seq=11))
    assert tcb.state == "RESET"
    assert consumed("FA", 0) == 1 and seq_diff(1, 2**32 - 1) == 2


def test_reset_plan_from_a_capture_and_the_attackers_own_rst_does_not_count():
    _, (victim, segments) = _connections()
    before_rst = [((s.src, s.sport), Seen.of(s)) for s in segments[:-1]]
    plan = reset_plan(before_rst, victim)
    assert plan.exact == segments[-1].seq  # the RST the victim's own kernel sent
    assert classify(plan.in_window, plan.exact, 65535) == "in_window"
    assert classify(plan.outside, plan.exact, 65535 << 14) == "outside"
    forged = before_rst + [(victim, Seen("R", seq=plan.outside))]
    assert next_seq(forged, victim) == plan.exact
    assert seq_diff(plan.outside, plan.exact) == OUTSIDE_OFFSET


def _client_segments():
    (client, segments), _ = _connections()
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


def test_guard_and_counters():
    assert "tcp dport 61000-61031 counter drop" in guard_ruleset(SERVER, "61000-61031")
    with pytest.raises(ValueError):
        guard_ruleset(SERVER, "61000; drop")
    assert parse_dropped("counter packets 0 bytes 0 drop") == 0
    text = "#kernel\nTcpExtListenDrops  3  0.0\nTcpExtSyncookiesSent 0 0.0\n"
    assert parse_nstat(text) == {"TcpExtListenDrops": 3, "TcpExtSyncookiesSent": 0}
    assert changes({"TcpExtListenDrops": 3}, {"TcpExtListenDrops": 5}, ["TcpExtListenDrops"]) == {"TcpExtListenDrops": 2}
