"""The views: packet table, ladder (terminal and matplotlib) and connection summaries."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from lab.capture import annotate_with_streams, read_pcap
from lab.capture.render import ladder, ladder_figure, ladder_lines, packet_label, packet_table, summary_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"


def _render(renderable, width: int = 140) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 100, 160])
def test_packet_table_never_cuts_a_number_and_wraps_the_explanation_under_the_row(width):
    anns, _ = annotate_with_streams(read_pcap(FIXTURES / "lossy.pcap"))
    text = _render(packet_table(anns), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    t0 = anns[0].segment.time
    rows = {int(line.split()[0]): line.split() for line in lines if re.match(r"^\s*\d+ \d+\.\d{6} tcp\d", line)}
    assert sorted(rows) == [a.segment.number for a in anns], "one line of numbers per packet"
    for ann in anns:
        fields = rows[ann.segment.number]
        assert fields[1] == f"{ann.segment.time - t0:.6f}"
        assert str(ann.seq) in fields and str(ann.segment.length) in fields
        assert str(ann.tcp.window_size) in " ".join(fields)
        if "A" in ann.flags:
            assert str(ann.ack) in fields
    # the explanation is under its row, indented, whole
    flat = " ".join(line.strip() for line in lines)
    for ann in anns[:40]:
        assert ann.annotation[:60] in flat


def test_endpoints_shrink_to_ports_when_the_numbers_need_the_room_and_no_line_ends_in_spaces():
    anns, _ = annotate_with_streams(read_pcap(FIXTURES / "lossy.pcap"))   # six-digit sequence numbers
    s = anns[0].segment
    narrow = _render(packet_table(anns), 80)
    assert f"{s.sport}→{s.dport}" in narrow and f"{s.src}:{s.sport} →" not in narrow
    assert all(line == line.rstrip() for line in narrow.splitlines())
    wide = _render(packet_table(anns), 160)
    assert f"{s.src}:{s.sport} → {s.dst}:{s.dport}" in wide
    small, _ = annotate_with_streams(read_pcap(FIXTURES / "chat.pcap"))   # small numbers: the addresses fit
    assert f"{small[0].segment.src}:{small[0].segment.sport} →" in _render(packet_table(small), 80)


def test_an_unknown_window_scale_is_marked():
    anns, _ = annotate_with_streams(read_pcap(FIXTURES / "midstream_sll2.pcap"))
    text = _render(packet_table(anns), 100)
    assert re.search(r"\d+\?\n", text), "a raw window is marked with ?"
    assert "scale is unknown" in text


def test_ladder_labels_above_arrows_times_in_units_and_a_legend():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "rst_close.pcap"))
    lines = ladder_lines(anns, streams[0], width=80)
    assert "client 127.0.0.1:" in lines[0] and "server 127.0.0.1:" in lines[0]
    assert all(len(line) <= 80 for line in lines[:-1])
    labels, arrows = lines[1:-1:2], lines[2:-1:2]
    assert len(arrows) == 8
    for arrow in arrows:   # the arrow line is the arrow only: no label on it
        body = arrow.split("|", 1)[1]
        assert re.fullmatch(r"-+>\||<-+\|", body), arrow
        assert re.match(r"^\s*\d+(\.\d+)? (µs|ms|s) $", arrow.split("|")[0]), arrow
    assert labels[0].strip(" |") == "S seq=0", "a SYN has no ACK flag: no ack="
    assert "SA seq=0 ack=1" in labels[1] and labels[1].rstrip().endswith("ack=1 |")
    assert labels[-1].strip(" |") == "AR seq=6 ack=46"
    assert arrows[0].rstrip().endswith("->|") and "|<-" in arrows[1]
    assert lines[-1].startswith("Each packet:")
    assert "AR" in _render(ladder(anns, streams[0]))


def test_summary_says_how_each_connection_ended():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "chat_server_demo.pcap"))
    text = _render(summary_table(streams), 80)
    assert text.count("handshake complete") == 3
    assert "RST from the client" in text and "FIN from both sides" in text
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    summary = streams[0].summary()
    assert summary["ephemeral_port"] == streams[0].client[1] and summary["bytes_client_to_server"] > 0


def test_ladder_figure_labels_sit_above_their_arrows_with_a_legend(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "lossy.pcap"))
    fig = ladder_figure(anns[:30], streams[0])
    fig.savefig(tmp_path / "ladder.png")
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in {packet_label(a) for a in anns[:30]}]
    assert len(labels) == 30
    syn = next(t for t in labels if t.get_text().startswith("S "))
    assert "ack=" not in syn.get_text()
    times = [t.get_text() for t in ax.texts if re.fullmatch(r"\d+(\.\d+)? (µs|ms|s)", t.get_text())]
    assert len(times) == 30 and "0 µs" == times[0] and not any(t.startswith("0.0000") for t in times)
    legend = ax.get_legend()
    assert legend is not None and any("handshake" in t.get_text() for t in legend.get_texts())
    # No label covers its arrow: in the label's own (rotated) frame, the arrow's
    # middle lies below the label's baseline, and the label runs parallel to the arrow.
    fig.canvas.draw()
    arrows = [a for a in ax.texts if a.get_text() == "" and hasattr(a, "xy")]
    assert len(arrows) == 30
    for label, arrow in zip(labels, arrows):
        start, end = ax.transData.transform(arrow.xyann), ax.transData.transform(arrow.xy)
        mid = (start + end) / 2
        anchor = ax.transData.transform(label.xy) + np.array([0, 5 * fig.dpi / 72])
        theta = math.radians(label.get_rotation())
        along = math.degrees(math.atan2(*(end - start)[::-1]))
        assert abs(((along - label.get_rotation()) + 90) % 180 - 90) < 1, "parallel to its arrow"
        dx, dy = mid - anchor
        height = -dx * math.sin(theta) + dy * math.cos(theta)   # distance above the baseline
        assert height < -1, f"{label.get_text()}: the arrow passes {height:.1f} px above the label's baseline"
    assert any("retransmission" in t.get_text() for t in labels)
    plt.close(fig)
