"""The recorded capture the lab.craft tests replay (the one exercise 11 is graded on)."""

from __future__ import annotations

from pathlib import Path

from lab.capture import read_pcap

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "graded" / "fixtures" / "ex11" / "chat.pcap"
SERVER = ("10.77.0.2", 5050)


def connections():
    """The recorded capture of exercise 11: (client, its segments) for each of its two connections."""
    segments = read_pcap(CAPTURE)
    by_client: dict = {}
    for seg in segments:
        client = (seg.src, seg.sport) if seg.dport == SERVER[1] else (seg.dst, seg.dport)
        by_client.setdefault(client, []).append(seg)
    return list(by_client.items())
