"""The lessons' self-checks (lab/notebook/claims, wire_claims, nagle, repair, tls) can fail.

Each check passes on the recording the notebook replays, and fails on the
same packets with the one number changed that the lesson's sentence is
about: a check that could not fail would prove nothing in the notebook.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab import notebook as nb
from lab.capture import annotate, read_pcap
from lab.notebook import claims, nagle, repair, tls, wire_claims
from lab.notebook.settings import LESSON_DATA


def recorded(name: str, server_port: int | None = None) -> list:
    """Every packet of a recording, annotated."""
    meta = json.loads((LESSON_DATA / f"{name}.json").read_text())
    ports = {server_port} if server_port else set(meta.get("server_ports", []))
    return annotate(read_pcap(LESSON_DATA / f"{name}.pcap"), ports)


def changed(packets: list, number: int, **fields) -> list:
    """The same capture with fields of frame ``number``'s segment changed, annotated again."""
    segments = [a.segment for a in packets]
    segments = [dataclasses.replace(s, **fields) if s.number == number else s for s in segments]
    ports = {packets[0].segment.dport} if packets else set()
    return annotate(segments, ports)


def holds(found) -> bool:
    found = [found] if isinstance(found, nb.Claim) else list(found)
    assert found, "no claim returned"
    return all(c.holds for c in found)


# -- the mechanism -------------------------------------------------------------------------------

def test_check_prints_a_line_per_claim_and_raises_after_printing_all(capsys):
    good = nb.Claim("two and two make four", True, "2 + 2 = 4")
    bad = nb.Claim("two and two make five", False, "2 + 2 = 4")
    nb.check(good, source="a test")
    assert capsys.readouterr().out == "Checked on the packets (a test):\n✓ two and two make four: 2 + 2 = 4\n"
    with pytest.raises(nb.ClaimFailed, match="two and two make five"):
        nb.check([good, bad])
    out = capsys.readouterr().out
    assert "✓ two and two make four" in out and "✗ two and two make five" in out


def test_checking_nothing_is_an_error():
    with pytest.raises(nb.ClaimFailed, match="no claim was checked"):
        nb.check([])


def test_claim_lines_fit_80_columns():
    line = nb.Claim("a claim with a long text " * 4, True, "and long evidence " * 6).line()
    assert max(map(len, line.splitlines())) <= 80
    assert all(part.startswith("  ") for part in line.splitlines()[1:])


def test_measured_replays_the_recorded_value_and_records_live(tmp_path, monkeypatch):
    class Live:
        live, name = True, "x-test"

    class Replayed:
        live, name = False, "01-handshake"

    monkeypatch.setenv(nb.RECORD_ENV, str(tmp_path))
    assert nb.measured(Live(), "k", {"v": 1}) == {"v": 1}
    assert json.loads((tmp_path / "x-test.facts.json").read_text()) == {"k": {"v": 1}}
    assert set(nb.measured(Replayed(), "connect")) == {"began", "returned"}
    with pytest.raises(nb.ClaimFailed, match="re-record"):
        nb.measured(Replayed(), "never-measured")


# -- lesson 1 -------------------------------------------------------------------------------------

def test_handshake_claims_fail_when_the_syn_ack_acknowledges_something_else():
    packets = recorded("01-handshake")
    assert holds(wire_claims.handshake(packets))
    syn_ack = packets[1].segment
    assert not holds(wire_claims.handshake(changed(packets, syn_ack.number, ack=syn_ack.ack + 1)))
    assert not holds(wire_claims.handshake(packets[:1])), "a missing SYN-ACK must fail, not pass"


def test_first_data_byte_and_ack_claims_fail_on_other_numbers():
    packets = recorded("01-handshake")
    assert holds(wire_claims.first_data_byte(packets)) and holds(wire_claims.acknowledged(packets, nth=0))
    data = next(a.segment for a in packets if a.role == "client" and a.segment.length)
    assert not holds(wire_claims.first_data_byte(changed(packets, data.number, seq=data.seq + 1)))
    ack = next(a.segment for a in packets if a.role == "server" and a.segment.number > data.number)
    assert not holds(wire_claims.acknowledged(changed(packets, ack.number, ack=ack.ack - 1), nth=0))


def test_fin_claim_fails_when_the_fin_is_acknowledged_as_data():
    packets = recorded("01-handshake")
    assert holds(wire_claims.fins_take_one(packets))
    fin = next(a for a in packets if "F" in a.flags)
    reply = next(a.segment for a in packets if a.segment.number > fin.segment.number and a.role != fin.role)
    assert not holds(wire_claims.fins_take_one(changed(packets, reply.number, ack=reply.ack - 1)))


def test_isn_clock_claims_fail_when_the_isn_ignores_the_clock():
    packets = recorded("01-isn")
    assert holds(wire_claims.isn_clock(packets))
    offers = [a.segment for a in packets if a.flags == "SA"]
    assert not holds(wire_claims.isn_clock(changed(packets, offers[1].number, seq=offers[0].seq)))


def test_refused_claims_fail_on_a_syn_ack():
    packets = recorded("01-refused")
    assert holds(wire_claims.refused(packets))
    rst = packets[1].segment
    assert not holds(wire_claims.refused(changed(packets, rst.number, flags=0x12)))  # SYN+ACK instead


# -- lessons 2 to 5 -------------------------------------------------------------------------------

def test_ephemeral_ports_claim_fails_on_a_single_connection():
    from lab.capture import annotate_with_streams

    packets, streams = annotate_with_streams([a.segment for a in recorded("02-many-clients")])
    assert holds(wire_claims.ephemeral_ports(packets, streams))
    assert not holds(wire_claims.ephemeral_ports(packets, streams[:1]))


def test_window_claims_fail_when_the_window_is_exceeded_or_never_closed():
    packets = recorded("04-naive-slow-reader")
    assert holds(wire_claims.zero_window(packets, 0, "client"))
    assert holds(wire_claims.within_window(packets, 0, "server"))
    zero = [a.segment for a in packets if a.stream == 0 and a.role == "client" and a.segment.window == 0]
    reopened = packets
    for seg in zero:
        reopened = changed(reopened, seg.number, window=10)
    assert not holds(wire_claims.zero_window(reopened, 0, "client"))
    data = [a.segment for a in packets if a.stream == 0 and a.role == "server" and a.segment.length][-1]
    beyond = changed(packets, data.number, payload=data.payload * 40,  # the last segment before the stall, 40x
                     data_length=data.length * 40)
    assert not holds(wire_claims.within_window(beyond, 0, "server"))


def test_half_close_and_ending_claims_fail_on_the_other_ending():
    half = recorded("05-half-close")
    assert holds(wire_claims.data_after_fin(half))
    assert not holds(wire_claims.data_after_fin(half, closer="server"))
    closing = recorded("05-closing")
    assert holds(wire_claims.ended_by(closing, 1, "fin", "client"))
    assert holds(wire_claims.ended_by(closing, 2, "rst", "client"))
    assert not holds(wire_claims.ended_by(closing, 1, "rst", "client"))
    assert not holds(wire_claims.ended_by(closing, 2, "fin", "client"))


def test_nagle_claims_on_the_recording_and_without_the_delayed_ack():
    packets = recorded("03-nagle")
    assert holds(nagle.stall_claims(packets))
    requests = nagle.rounds_on_wire(packets, 0)
    assert len(requests) == nagle.ROUNDS and sum(r["waited"] for r in requests) >= 1
    # Give the ACKs of the Nagle run the timing of a quick ACK: the stall claim must then fail.
    quick = packets
    for r in requests:
        header = r["header"].segment
        quick = changed(quick, r["ack"].segment.number, ts_ns=header.ts_ns + 10_000)
    assert not holds(nagle.stall_claims(quick)[1])
    # The two connections swapped: the TCP_NODELAY claim must fail on the Nagle run.
    assert not holds(nagle.stall_claims(packets, nagle_stream=1, nodelay_stream=0))


def test_udp_claims_fail_on_a_merged_or_extra_packet():
    packets = recorded("06-udp")
    sent = [b"hello\n", b"how are you?\n", b"fine, thanks\n"]
    assert holds(wire_claims.udp_datagrams_whole(packets, sent))
    assert not holds(wire_claims.udp_datagrams_whole(packets, [b"".join(sent)]))
    assert not holds(wire_claims.udp_datagrams_whole(packets + recorded("01-refused"), sent))


# -- lesson 6 -------------------------------------------------------------------------------------

def test_repair_classification_counts_what_compare_counts():
    from lab.experiments.compare import count_retransmissions

    segments = read_pcap(LESSON_DATA / "06-compare-tcp.pcap")
    resends = repair.find_resends(segments)
    assert len(resends) == count_retransmissions(segments)["retransmissions"]
    assert holds(repair.repair_claims(resends))
    assert {r.cause for r in resends} <= {"SACK", "timer", "probe"}
    timers = [r for r in resends if r.cause == "timer"]
    assert timers and all(r.waited_ms >= 180 and r.dupacks == 0 for r in timers)
    slow_only = [dataclasses.replace(r, cause="timer") for r in resends]
    assert not holds(repair.repair_claims(slow_only)), "a capture repaired only by timers must fail the SACK claim"


def test_lesson6_counter_claims_on_the_recorded_run():
    results = json.loads((LESSON_DATA / "06-compare.json").read_text())
    resends = repair.find_resends(read_pcap(LESSON_DATA / "06-compare-tcp.pcap"))
    assert holds(nb.tcp_claims(results, resends))
    results["tcp"]["wire"]["wireshark"]["out_of_order"] += 1
    assert not holds(nb.tcp_claims(results, resends))


def test_lesson6_in_flight_claim_holds_only_for_a_prefix_with_nothing_lost():
    results = json.loads((LESSON_DATA / "06-compare.json").read_text())
    resends = repair.find_resends(read_pcap(LESSON_DATA / "06-compare-tcp.pcap"))
    tcp = results["tcp"]
    hop = {"state": "ESTABLISHED", "unacked": 2, "backoff": 6, "rto_ms": 12800.0, "retransmits": 6,
           "total_retrans": 30, "ca_state": "Loss"}
    tcp.update(delivered=tcp["sent"] - 73, lost=0, waited_s=32.0,
               in_flight={"messages": 73, "first": tcp["sent"] - 72, "hops": {"sender -> server": hop}})
    first = nb.tcp_claims(results, resends)[0]
    assert first.holds and "still in flight" in first.text, first
    # the capture and the kernels are compared only once nothing is in flight
    assert not any("TCP_INFO" in c.text for c in nb.tcp_claims(results, resends))
    tcp["lost"] = 1  # one message lost for good on top: not TCP's guarantee
    assert not nb.tcp_claims(results, resends)[0].holds
    tcp.update(lost=0, delivered=tcp["sent"] - 74)  # a message missing that nobody holds
    assert not nb.tcp_claims(results, resends)[0].holds


def test_udp_counter_claims_need_the_tail():
    udp = {"sent": 200, "delivered": 124, "lost": 76, "relay": {"dropped": 76},
           "sequence_numbers": {"at_receiver": {"lost": 74, "highest": 198}}}
    results = {"mode": "loopback", "udp": udp}
    assert holds(nb.udp_claims(results))
    udp["sequence_numbers"]["at_receiver"]["highest"] = 200  # the receiver cannot know about a tail it never saw
    assert not holds(nb.udp_claims(results))
    udp["relay"]["dropped"] = 75
    assert not holds(nb.udp_claims(results)[0])


# -- lesson 7 -------------------------------------------------------------------------------------

def _tls_streams():
    packets = recorded("07-tls")
    client = b"".join(a.segment.payload for a in packets if a.stream == 0 and a.role == "client")
    server = b"".join(a.segment.payload for a in packets if a.stream == 0 and a.role == "server")
    return packets, client, server


def test_tls_record_claims_fail_on_other_line_lengths():
    _packets, client, server = _tls_streams()
    lines = [b"alice\n", f"{nb.SECRET}\n".encode(), b"/quit\n"]
    assert holds(tls.record_claims(client, server, lines))
    assert tls.negotiated(server)[0] == "TLS 1.3"
    assert not holds(tls.record_claims(client, server, [b"alice!\n"]))


def test_sni_claims_fail_when_swapped():
    packets, client, _server = _tls_streams()
    by_ip = b"".join(a.segment.payload for a in packets if a.stream == 2 and a.role == "client")
    assert tls.sni(client) == "localhost" and tls.sni(by_ip) is None
    assert holds(tls.sni_claims(client, by_ip))
    assert not holds(tls.sni_claims(by_ip, client))


def test_round_trip_claim_fails_on_plain_against_plain():
    plain, tls_packets = recorded("07-plain"), recorded("07-tls")
    assert holds(tls.round_trip_claims(plain, tls_packets))
    assert not holds(tls.round_trip_claims(plain, plain))


def test_a_flipped_bit_is_refused(tmp_path):
    assert tls.tamper(nb.lab_ca(tmp_path)).startswith("ssl.SSLError")
