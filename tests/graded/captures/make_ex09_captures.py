#!/usr/bin/env python3
"""Write exercise 9's captures, and tshark's reading of them, into this directory.

    python tests/graded/captures/make_ex09_captures.py          # rewrite the .pcap and .tshark.tsv files
    python tests/graded/captures/make_ex09_captures.py --check  # exit 1 if tshark now reads them differently

The captures are built packet by packet with scapy (no privilege, no
network, the same bytes on every run), so that each one holds exactly the
cases the exercise is about.  The graded tests compare the student's
numbers with the .tshark.tsv files, which hold what tshark (4.0.17, the
kit's reference) computes on the same .pcap files; tests/test_graded_captures.py
checks in CI that both files are still what this script and the installed
tshark produce.

two_connections.pcap
    Two TCP connections, interleaved: one opened in the capture (the three-way
    handshake), one already open when the capture started (no SYN); an ARP
    and a UDP packet; Ethernet padding after short frames; the server's
    sequence numbers wrapping past 2**32; an RST; the FIN exchange.

round_trips.pcap
    One connection as captured on the *client* (10.0.0.1), 20 ms from the
    server: the handshake; a line and its ACK; the server's welcome and the
    client's delayed ACK (40 ms, Linux's minimum); four segments of which two
    are lost, one cumulative ACK, two retransmissions after the
    retransmission timeout; two segments of the server's and one ACK for
    both; the FIN exchange.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = 1_700_000_000  # capture times: seconds since the epoch

#: tshark's fields, in the .tshark.tsv columns; preferences pinned so a user's profile cannot change them.
FIELDS = ("frame.number", "frame.time_epoch", "tcp.seq", "tcp.ack", "tcp.len", "tcp.analysis.acks_frame",
          "tcp.analysis.ack_rtt", "tcp.analysis.bytes_in_flight", "tcp.analysis.retransmission",
          "tcp.analysis.out_of_order")
PREFERENCES = ("tcp.relative_sequence_numbers:TRUE", "tcp.analyze_sequence_numbers:TRUE",
               "tcp.track_bytes_in_flight:TRUE", "tcp.calculate_timestamps:TRUE", "tcp.desegment_tcp_streams:FALSE")


def _segment(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int, data: bytes = b"",
             pad: bool = False, when: float = 0.0):
    from scapy.all import IP, TCP, Ether, Padding, Raw

    pkt = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32,
                                               ack=ack % 2**32, window=65000)
    if data:
        pkt = pkt / Raw(data)
    if pad:  # a real Ethernet frame is at least 60 bytes: short ones are padded with zeros
        pkt = pkt / Padding(b"\x00" * 6)
    pkt.time = START + when
    return pkt


def two_connections() -> list:
    from scapy.all import ARP, IP, UDP, Ether, Raw

    c, s = "10.0.0.1", "10.0.0.2"
    s0 = 2**32 - 6  # the server's ISN: its sequence numbers wrap around 2**32 during the data

    def tcp(*args, **kwargs):
        return _segment(*args, **kwargs)

    packets = [
        tcp(c, s, 40000, 5050, "S", 1000, 0),
        Ether() / ARP(psrc=c, pdst=s),
        tcp(s, c, 5050, 40000, "SA", s0, 1001),
        tcp(c, s, 40000, 5050, "A", 1001, s0 + 1, pad=True),
        tcp(c, s, 40001, 5050, "PA", 500000, 700000, b"hello"),
        tcp(c, s, 40000, 5050, "PA", 1001, s0 + 1, b"alice\r\n"),
        Ether() / IP(src=c, dst=s) / UDP(sport=5000, dport=5051) / Raw(b"0 hi"),
        tcp(s, c, 5050, 40000, "A", s0 + 1, 1008, pad=True),
        tcp(s, c, 5050, 40001, "A", 700000, 500005, pad=True),
        tcp(s, c, 5050, 40000, "PA", s0 + 1, 1008, b"x" * 40),
        tcp(c, s, 40000, 5050, "A", 1008, s0 + 41, pad=True),
        tcp(c, s, 40001, 5050, "R", 500005, 0, pad=True),
        tcp(c, s, 40000, 5050, "FA", 1008, s0 + 41, pad=True),
        tcp(s, c, 5050, 40000, "FA", s0 + 41, 1009, pad=True),
        tcp(c, s, 40000, 5050, "A", 1009, s0 + 42, pad=True),
    ]
    for n, pkt in enumerate(packets):
        pkt.time = START + n / 100
    return packets


def round_trips() -> list:
    c, s, cp, sp = "10.0.0.1", "10.0.0.2", 41234, 5050
    ci, si = 3_000_000_000, 123_456_789  # the ISNs (client, server)

    def client(when: float, flags: str, rel_seq: int, rel_ack: int, size: int = 0):
        return _segment(c, s, cp, sp, flags, ci + rel_seq, si + rel_ack, b"c" * size, pad=not size, when=when)

    def server(when: float, flags: str, rel_seq: int, rel_ack: int, size: int = 0):
        return _segment(s, c, sp, cp, flags, si + rel_seq, ci + rel_ack, b"s" * size, pad=not size, when=when)

    syn = client(0.0000, "S", 0, 0)
    syn["TCP"].ack = 0  # a SYN carries no acknowledgement: its ack field is 0, as Linux sends it
    return [
        syn,  # the handshake: one round trip is 20 ms
        server(0.0200, "SA", 0, 1),
        client(0.0201, "A", 1, 1),
        client(0.0300, "PA", 1, 1, 7),  # "alice\r\n"
        server(0.0500, "A", 1, 8),
        server(0.0510, "PA", 1, 8, 40),  # the welcome
        client(0.0910, "A", 8, 41),  # the client's delayed ACK: 40 ms later
        client(0.1000, "PA", 8, 41, 1000),  # four segments in a row...
        client(0.1001, "PA", 1008, 41, 1000),
        client(0.1002, "PA", 2008, 41, 1000),  # ...this one is lost on the way
        client(0.1003, "PA", 3008, 41, 1000),  # ...and this one too
        server(0.1201, "A", 41, 2008),  # one ACK for the first two
        client(0.3203, "PA", 2008, 41, 1000),  # the retransmission timer fired: resent
        server(0.3403, "A", 41, 3008),
        client(0.3404, "PA", 3008, 41, 1000),  # resent too
        server(0.3604, "A", 41, 4008),
        server(0.4100, "PA", 41, 4008, 100),  # two segments from the server...
        server(0.4101, "PA", 141, 4008, 100),
        client(0.4102, "A", 4008, 241),  # ...and one ACK for both
        client(0.5000, "FA", 4008, 241),  # the client closes first
        server(0.5200, "FA", 241, 4009),
        client(0.5201, "A", 4009, 242),
    ]


CAPTURES = {"two_connections": two_connections, "round_trips": round_trips}


def tshark_rows(pcap: Path) -> list[list[str]]:
    """tshark's FIELDS for every TCP frame of PCAP."""
    command = ["tshark", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for preference in PREFERENCES:
        command += ["-o", preference]
    for field in FIELDS:
        command += ["-e", field]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def tshark_version() -> str:
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    return out.splitlines()[0].strip()


def tsv_text(rows: list[list[str]], version: str) -> str:
    return f"# {version}; fields as tests/graded/captures/make_ex09_captures.py asks for them\n" + \
        "\t".join(FIELDS) + "\n" + "".join("\t".join(row) + "\n" for row in rows)


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The rows of a .tshark.tsv file, as {field: value} ('' where tshark printed nothing)."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def differences() -> list[str]:
    """What differs between the committed files and what this script and the installed tshark make now."""
    import tempfile

    from scapy.all import wrpcap

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in CAPTURES.items():
            pcap, tsv = HERE / f"{name}.pcap", HERE / f"{name}.tshark.tsv"
            fresh = Path(tmp) / pcap.name
            wrpcap(str(fresh), build())
            if not pcap.exists() or fresh.read_bytes() != pcap.read_bytes():
                found.append(f"{pcap.name}: not what {Path(__file__).name} builds")
                continue
            committed = [line.split("\t") for line in tsv.read_text().splitlines()[2:]] if tsv.exists() else None
            if tshark_rows(pcap) != committed:
                found.append(f"{tsv.name}: {tshark_version()} reads {pcap.name} differently now")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write exercise 9's captures and tshark's reading of them.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a capture or tshark's reading of it differs")
    args = parser.parse_args(argv)
    if shutil.which("tshark") is None:
        print("make_ex09_captures: tshark is not installed (apt install tshark)", file=sys.stderr)
        return 2
    if args.check:
        found = differences()
        for line in found:
            print(line)
        return 1 if found else 0
    from scapy.all import wrpcap

    version = tshark_version()
    for name, build in CAPTURES.items():
        pcap, tsv = HERE / f"{name}.pcap", HERE / f"{name}.tshark.tsv"
        wrpcap(str(pcap), build())
        tsv.write_text(tsv_text(tshark_rows(pcap), version))
        print(f"wrote {pcap.relative_to(HERE.parents[2])} and {tsv.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
