"""The views: table, ladder (terminal and matplotlib) and connection summaries."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from lab.capture import annotate_with_streams, read_pcap
from lab.capture.render import ladder, ladder_figure, ladder_lines, packet_table, summary_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"


def _render(renderable) -> str:
    console = Console(width=140, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def test_ladder_shows_the_handshake_and_the_rst():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "rst_close.pcap"))
    lines = ladder_lines(anns, streams[0])
    assert "client 127.0.0.1:" in lines[0] and "server 127.0.0.1:" in lines[0]
    arrows = [line for line in lines[1:] if "->|" in line or "|<-" in line]
    assert len(arrows) == 8
    assert arrows[0].rstrip().endswith("->|") and " S seq=0 " in arrows[0]
    assert arrows[1].lstrip().split(" ", 1)[1].startswith("|<-") and "SA seq=0 ack=1" in arrows[1]
    assert "AR seq=6 ack=46" in arrows[-1]
    assert "SYN 1/3" in _render(packet_table(anns)) and "AR" in _render(ladder(anns, streams[0]))


def test_summary_says_how_each_connection_ended():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "chat_server_demo.pcap"))
    text = _render(summary_table(streams))
    assert text.count("complete") == 3
    assert "RST from the client" in text and "FIN from both sides" in text
    summary = streams[0].summary()
    assert summary["ephemeral_port"] == streams[0].client[1] and summary["bytes_client_to_server"] > 0


def test_ladder_figure_for_notebooks(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "lossy.pcap"))
    fig = ladder_figure(anns[:30], streams[0])
    fig.savefig(tmp_path / "ladder.png")
    assert (tmp_path / "ladder.png").stat().st_size > 1000
    assert "retransmission" in " ".join(t.get_text() for t in fig.axes[0].texts)
