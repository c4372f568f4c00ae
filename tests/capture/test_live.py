"""Live capture on lo (privileged: root or CAP_NET_RAW; CI runs these).

Every test compares what it recorded itself (the sniffer's packets with the
sockets that made them, or a tcpdump file with tshark on the same file), and
waits for conditions (a packet seen, bytes unread in a buffer), never for
time.  None depends on whether the busy machine dropped a packet: a capture
that misses one still agrees with tshark on the same file.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab.capture import Sniffer, annotate, annotate_with_streams, read_pcap
from lab.capture.decode import ACK, FIN, RST
from tests.capture import scenarios as sc

pytestmark = pytest.mark.privileged


def _mine(segments, ports):
    """Only the segments of connections whose client port is ours (other tests share lo)."""
    return [s for s in segments if s.sport in ports or s.dport in ports]


def seen(sniffer, predicate, what: str, timeout: float = 10.0):
    """Wait until the captured segments satisfy ``predicate`` (polling the sniffer)."""
    def check():
        sniffer.poll()
        return predicate(sniffer.segments)
    return sc.wait_for(check, what, timeout)


def _closed_both_ways(ports=None):
    """Both FINs of our connection (of any, if ``ports`` is None) and the ACK of the second are captured."""
    def check(segments):
        mine = segments if ports is None else _mine(segments, ports)
        fins = [s for s in mine if s.flags & FIN]
        return len(fins) >= 2 and any(s.flags & ACK and not s.flags & FIN and s.ack == (fins[-1].seq + 1) & 0xFFFFFFFF
                                      for s in mine)
    return check


@contextlib.contextmanager
def sniffing(port, until=None, what: str = "the last packet"):
    """Capture ``port`` on lo; at the end wait until ``until(segments)`` holds, then stop."""
    sniffer = Sniffer(iface="lo", port=port)
    sniffer.start()
    try:
        yield sniffer
        if until is not None:
            seen(sniffer, until, what)
    finally:
        sniffer.stop()


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    return srv


def test_handshake_fin_and_no_duplicates():
    srv = _listener()
    port = srv.getsockname()[1]
    ports = set()
    with sniffing(port, until=_closed_both_ways(ports), what="both FINs and the last ACK") as sniffer:
        client = socket.create_connection(("127.0.0.1", port))
        mine = client.getsockname()[1]
        ports.add(mine)
        conn, _ = srv.accept()
        client.sendall(b"alice\n")
        conn.recv(100)
        client.close()                       # orderly close: FIN
        conn.recv(100)
        conn.close()
    srv.close()
    segs = [s for s in sniffer.segments if mine in (s.sport, s.dport)]
    anns = annotate(segs)
    assert [a.flags for a in anns[:3]] == ["S", "SA", "A"], "exactly three handshake packets first"
    assert sum(1 for a in anns if "S" in a.flags) == 2
    syn, synack, ack = segs[:3]
    assert synack.ack == (syn.seq + 1) & 0xFFFFFFFF, "SYN-ACK acknowledges ISN + 1"
    assert ack.ack == (synack.seq + 1) & 0xFFFFFFFF
    assert anns[2].step == "ACK 3/3"
    keys = [(s.src, s.sport, s.seq, s.ack, s.flags, s.length) for s in segs]
    assert len(keys) == len(set(keys)), "a packet was captured twice"
    fins = [a for a in anns if "F" in a.flags]
    assert [a.role for a in fins] == ["client", "server"]
    assert not any("R" in a.flags for a in anns)


def test_rst_after_close_with_unread_data():
    srv = _listener()
    port = srv.getsockname()[1]
    with sniffing(port, until=lambda segs: any(s.flags & RST for s in segs), what="the RST") as sniffer:
        client = socket.create_connection(("127.0.0.1", port))
        mine = client.getsockname()[1]
        conn, _ = srv.accept()
        conn.sendall(b"12:00:00 <bob> unread\r\n")
        sc.wait_for(lambda: sc.unread_bytes(client) > 0, "the line to wait unread in the client's buffer")
        client.close()                       # unread data in the buffer: RST
        with pytest.raises(ConnectionResetError):
            conn.recv(100)
        conn.close()
    srv.close()
    anns = annotate([s for s in sniffer.segments if mine in (s.sport, s.dport)])
    rst = [a for a in anns if "R" in a.flags]
    assert len(rst) == 1 and rst[0].role == "client"
    assert not any("F" in a.flags for a in anns)


def test_pcap_round_trip_read_by_tshark(tmp_path: Path):
    port = sc.free_port()
    with sniffing(port, until=_closed_both_ways(),
                  what="both FINs and the last ACK") as sniffer:
        sc.scenario_fin(port)
    path = sniffer.write(tmp_path / "live.pcap")
    assert read_pcap(path) == sniffer.segments
    rows = sc.tshark_fields(path)
    assert [int(r["frame.number"]) for r in rows] == [s.number for s in sniffer.segments]
    # tshark on our file agrees with our annotator, and sees no duplicate (no retransmission) on lo.
    for ann, row in zip(annotate(sniffer.segments), rows):
        assert (ann.seq, ann.ack, ann.segment.length) == (int(row["tcp.seq"]), int(row["tcp.ack"]), int(row["tcp.len"]))
        assert sorted(ann.analysis) == sorted(row["analysis"])


@pytest.mark.slow
def test_fresh_lossy_capture_matches_tshark(tmp_path: Path):
    """Record with tcpdump under 20% loss (nftables) and compare with tshark, packet for packet."""
    port = sc.free_port()
    path = tmp_path / "fresh.pcap"
    with sc.tcpdump(path, port):
        with sc.nft_loss(port, 20, table=f"chatlab_test_{uuid.uuid4().hex[:8]}", spare_syn_fin=True):
            sc.scenario_bulk(port, 60_000)
    anns = _matches_tshark(path)
    assert any("retransmission" in a.analysis for a in anns)


def test_fresh_window_full_stall_with_window_scaling_matches_tshark(tmp_path: Path):
    """A receiver that stops reading, default buffer (window scale > 0): compare with tshark live.

    The scenario waits until the kernel has sent a zero-window probe, so the
    stall is on the wire; whether tcpdump captured every packet of it does
    not matter: the annotator and tshark read the same file.
    """
    port = sc.free_port()
    path = tmp_path / "stall.pcap"
    with sc.tcpdump(path, port):
        sc.scenario_window_full_scaled(port)
    anns = _matches_tshark(path)
    assert any(a.tcp.window_size_scalefactor and a.tcp.window_size_scalefactor > 1 for a in anns), \
        "the receiver's windows are scaled (the SYNs were captured)"


def _matches_tshark(path: Path) -> list:
    """Annotate ``path`` and check every packet, every field, against tshark's; return the annotations."""
    from tests.capture.test_annotate_vs_tshark import mine, theirs

    rows = sc.tshark_fields(path)
    anns = annotate(read_pcap(path))
    assert len(anns) == len(rows) > 20
    for ann, row in zip(anns, rows):
        values = mine(ann)
        reference = theirs(row, values)
        differ = {k: (values[k], reference[k]) for k in values if values[k] != reference[k]}
        assert not differ, f"frame {ann.segment.number}: (annotator, tshark) {differ}"
    return anns


def test_capture_inside_a_network_namespace():
    name = f"chatlab-cap-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        sniffer = Sniffer(iface="lo", port=7777, netns=name).start()
        try:
            code = ("import socket\n"
                    "try: socket.create_connection(('127.0.0.1', 7777), timeout=2)\n"
                    "except OSError: pass\n")
            subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", code], check=True, timeout=20)
            seen(sniffer, lambda segs: any(s.flags & RST for s in segs), "the RST answering the SYN")
        finally:
            sniffer.stop()
        anns = annotate(sniffer.segments)
        assert [a.flags for a in anns] == ["S", "AR"], "the refused SYN in the namespace, once each"
        assert "nothing listens" in anns[1].annotation
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_real_chat_server_quit_gives_fin_and_kill_gives_rst():
    from lab.peer import Peer, PeerProcess, is_event
    from lab.tcp.server import ChatServer, ServerConfig

    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, shutdown_grace=0.2))
    server.start()
    port = server.address[1]
    carol = None
    try:
        with sniffing(port) as sniffer:
            bob = Peer(("127.0.0.1", port), "bob")
            bob_port = bob.local[1]
            bob.quit()          # reads until the server's FIN, then closes: nothing unread
            bob.close()
            carol = PeerProcess(port, "carol", "stalled")
            alice = Peer(("127.0.0.1", port), "alice")
            alice.send("carol, unread")
            carol.wait_unread()  # the line waits in carol's receive buffer
            carol.kill()
            alice.expect(is_event("carol", "left"))
            alice.close()
            seen(sniffer, lambda segs: any(s.flags & RST and s.sport == carol.port for s in segs), "carol's RST")
            seen(sniffer, _closed_both_ways({bob_port}), "bob's close")
    finally:
        if carol is not None:
            carol.stop()
        server.stop()
    anns, streams = annotate_with_streams(sniffer.segments, {port})
    by_client = {s.client[1]: s for s in streams}
    bob_stream = by_client[bob_port]
    bob_anns = [a for a in anns if a.stream == bob_stream.index]
    assert [a.flags for a in bob_anns[:3]] == ["S", "SA", "A"]
    # each side sends one FIN (under load a FIN may be retransmitted: the same FIN again, not a second one)
    assert sorted(a.role for a in bob_anns if "F" in a.flags and not a.tcp.is_retransmission) == ["client", "server"]
    assert any(a.text and a.text[0].startswith("/quit") for a in bob_anns)
    assert any("/quit: says goodbye" in a.annotation for a in bob_anns)
    carol_stream = by_client[carol.port]
    assert carol_stream.rst_from == "client", "killing carol with unread data sends RST"
    rst = [a for a in anns if a.stream == carol_stream.index and "R" in a.flags]
    assert rst[0].role == "client" and "unread" in rst[0].annotation


SERVER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
print("ready", flush=True)
srv.settimeout(10)
conn, _ = srv.accept()
conn.settimeout(5)
conn.recv(100)
conn.sendall(b"12:00:00 --- bye: see you\r\n")
conn.close()
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"/quit\n")
c.settimeout(5)
while c.recv(100):
    pass
c.close()
"""


def test_named_interface_veth_between_two_namespaces():
    """On a real (non-loopback) interface both directions are kept, each packet once."""
    tag = uuid.uuid4().hex[:6]
    a, b = f"chatlab-a-{tag}", f"chatlab-b-{tag}"
    va, vb = f"cla{tag}", f"clb{tag}"
    server = None
    try:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b], check=True)
        for ns, dev, addr in ((a, va, "10.77.0.1/24"), (b, vb, "10.77.0.2/24")):
            subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", SERVER, "10.77.0.2", "7000"],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        with Sniffer(iface=va, port=7000, netns=a) as sniffer:
            subprocess.run(["ip", "netns", "exec", a, sys.executable, "-c", CLIENT, "10.77.0.2", "7000"],
                           check=True, timeout=30)
            seen(sniffer, _closed_both_ways(), "both FINs and the last ACK")
        server.wait(10)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    anns = annotate(sniffer.segments)
    assert [a.flags for a in anns[:3]] == ["S", "SA", "A"]
    assert {a.segment.src for a in anns} == {"10.77.0.1", "10.77.0.2"}
    keys = [(s.src, s.seq, s.ack, s.flags, s.length) for s in sniffer.segments]
    assert len(keys) == len(set(keys))
    assert sorted(a.role for a in anns if "F" in a.flags) == ["client", "server"]
    assert any(a.text == ["/quit"] for a in anns)


def test_ipv6_loopback():
    srv = socket.socket(socket.AF_INET6)
    try:
        srv.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 on lo")
    srv.listen(1)
    port = srv.getsockname()[1]
    with sniffing(port, until=lambda segs: sum(1 for s in segs if s.flags & FIN) >= 2, what="both FINs") as sniffer:
        client = socket.create_connection(("::1", port))
        conn, _ = srv.accept()
        client.sendall(b"hi\n")
        conn.recv(10)
        client.close()
        conn.close()
    srv.close()
    anns = annotate(sniffer.segments)
    assert [a.flags for a in anns[:3]] == ["S", "SA", "A"]
    assert anns[0].segment.src == "::1" and "[::1]:" in anns[0].annotation


def test_python_port_filter_matches_the_kernel_filter():
    """Without libpcap the port is filtered in Python: same packets, other ports excluded."""
    port, other = sc.free_port(), sc.free_port()
    kernel = Sniffer(iface="lo", port=port).start()
    python = Sniffer(iface="lo", port=port, use_libpcap=False).start()
    try:
        assert (kernel.filter_mode, python.filter_mode) == ("bpf", "python")
        for p in (other, port, other):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", p), timeout=1)
        # both filters keep only our port: wait until each has our refused SYN's RST
        for sniffer in (kernel, python):
            seen(sniffer, lambda segs: any(s.flags & RST for s in segs), "the RST of the refused connection")
    finally:
        kernel.stop()
        python.stop()
    def view(segments):
        return [(s.sport, s.dport, s.seq, s.ack, s.flags) for s in segments]
    assert view(python.segments) == view(kernel.segments)
    assert len(kernel.segments) >= 2 and all(port in (s.sport, s.dport) for s in kernel.segments)


def test_unknown_interface_is_one_clear_error():
    from lab.capture.sniffer import CaptureError
    with pytest.raises(CaptureError, match="no-such-if0"):
        Sniffer(iface="no-such-if0").start()
    out = subprocess.run([sys.executable, "-m", "lab", "sniff", "--iface", "no-such-if0"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "ip link" in out.stderr
