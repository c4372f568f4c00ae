"""The sentences: what Linux does, the textbook rule named as such (issue 12 §1 wordings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.capture import annotate, read_pcap
from lab.capture.explain import format_duration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"
WRONG = ("process was killed", "counts as one byte", "random isn", "deliver to the application now",
         "picks a random")


def _all():
    return {p.name: annotate(read_pcap(p)) for p in sorted(FIXTURES.glob("*.pcap*"))}


def test_no_fixture_is_explained_with_a_wrong_statement():
    for name, anns in _all().items():
        for ann in anns:
            text = ann.annotation.lower()
            assert not [w for w in WRONG if w in text], f"{name} frame {ann.segment.number}: {ann.annotation}"


def test_rst_names_the_real_causes():
    rst = next(a for a in annotate(read_pcap(FIXTURES / "rst_close.pcap")) if "R" in a.flags)
    text = rst.annotation
    for cause in ("unread", "SO_LINGER", "no longer exists", "RFC 1122"):
        assert cause in text, cause
    assert "Killing a process is not a cause by itself" in text and "sends a FIN unless unread data" in text
    assert "the client's socket was closed with some of it unread" in text   # what this capture shows


def test_syn_and_fin_take_one_sequence_number_and_carry_no_data():
    anns = annotate(read_pcap(FIXTURES / "fin_close.pcap"))
    assert "the SYN took one sequence number (a SYN carries no data byte)" in anns[1].annotation
    fins = [a for a in anns if "F" in a.flags]
    assert all("The FIN takes one sequence number and carries no data." in a.annotation for a in fins)


def test_isn_is_a_clock_plus_a_keyed_hash_said_once_per_capture():
    anns = annotate(read_pcap(FIXTURES / "chat.pcap"))
    syns = [a for a in anns if a.flags == "S"]
    assert len(syns) == 2
    assert "clock" in syns[0].annotation and "keyed hash" in syns[0].annotation and "RFC 6528" in syns[0].annotation
    assert "inject" in syns[0].annotation and "delayed segment of the old connection" in syns[0].annotation
    assert f"(How an ISN is chosen: frame {syns[0].segment.number}.)" in syns[1].annotation


def test_psh_does_not_change_delivery():
    anns = annotate(read_pcap(FIXTURES / "chat.pcap"))
    psh = [a for a in anns if "P" in a.flags]
    assert "Linux sets it on the last segment" in psh[0].annotation and "PSH or not" in psh[0].annotation
    assert not any("PSH is set" in a.annotation for a in psh[1:]), "said once"


def test_syn_options_are_explained():
    syn = annotate(read_pcap(FIXTURES / "chat.pcap"))[0]
    for words in ("MSS 65495", "window scale", "SACK permitted", "timestamps", "RFC 7323", "RFC 2018"):
        assert words in syn.annotation, words
    assert syn.tcp.mss_val == 65495 and syn.tcp.sack_perm and syn.tcp.tsval is not None


def test_window_scale_unknown_when_the_capture_started_late():
    anns = annotate(read_pcap(FIXTURES / "midstream_sll2.pcap"))
    unknown = [a for a in anns if a.tcp and a.tcp.window_size_scalefactor == -1]
    assert unknown and all(a.tcp.window_size == a.segment.window for a in unknown), "raw, as tshark shows it"
    assert sum("the capture started after the SYNs" in a.annotation for a in anns) == 2   # once per direction's stream
    missing_synack = annotate(read_pcap(FIXTURES / "missed_segments.pcap"))
    assert any(a.role == "server" and a.tcp and a.tcp.scale_unknown for a in missing_synack)


def test_a_segment_bigger_than_the_mss_is_explained_as_segmentation_offload():
    anns = annotate(read_pcap(FIXTURES / "router_bulk.pcap"))
    big = [a for a in anns if "more than the MSS" in a.annotation]
    assert len(big) == 1 and big[0].segment.length > 1460 and "GSO" in big[0].annotation


@pytest.mark.parametrize("seconds, text", [(0, "0 µs"), (13e-6, "13 µs"), (0.0065, "6.5 ms"), (0.2051, "205 ms"),
                                           (1.25, "1.25 s")])
def test_durations_use_the_unit_that_fits(seconds, text):
    assert format_duration(seconds) == text
