"""Exercise 11: TCP by hand with scapy (see exercises/ex11_handcraft.py).

Part 1 is graded on a capture of two real connections
(tests/graded/fixtures/ex11/chat.pcap, recorded in the kit's emulated
network by record.py beside it; tshark's fields are stored there too): for
each packet the client's Linux kernel sent, the student's code, given the
capture up to it, must build the same packet, field by field.

Part 2 runs the student's ``handshake_by_hand`` for real (root): in an
emulated network with the kit's chat server in "server" and a real
``chatlab client`` (bob) in "client2", as ``python -m <impl>.ex11_handcraft
live`` inside "client1", with the kit's nftables guard in place.  It is
graded by the server's own lifecycle log and by what bob's screen shows;
when something is wrong, the capture of the connection is read back
(lab.craft.diagnose) to say which number was wrong, and what the server did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.graded.conftest import ROOT, default_impl
from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(120)]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ex11" / "chat.pcap"
SERVER = ("10.77.0.2", 5050)
MOD = 2**32


# -- the capture ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def connections():
    """The two connections of the capture: (client endpoint, its packets as scapy IP packets)."""
    from scapy.all import IP, TCP, rdpcap

    packets = [p[IP] for p in rdpcap(str(FIXTURE)) if TCP in p]
    found: dict = {}
    for pkt in packets:
        client = (pkt.src, pkt[TCP].sport) if pkt[TCP].dport == SERVER[1] else (pkt.dst, pkt[TCP].dport)
        found.setdefault(client, []).append(pkt)
    (alice, alice_packets), (bob, bob_packets) = found.items()
    return {"alice": (alice, alice_packets), "bob": (bob, bob_packets)}


def _fields(pkt) -> tuple:
    """(src, sport, dst, dport, flags, seq, ack, data) of a scapy IP/TCP packet, built or read."""
    from scapy.all import IP, TCP

    ip = IP(bytes(pkt[IP]))
    tcp = ip[TCP]
    length = ip.len - ip.ihl * 4 - tcp.dataofs * 4
    return (ip.src, tcp.sport, ip.dst, tcp.dport, str(tcp.flags), tcp.seq, tcp.ack if "A" in tcp.flags else 0,
            bytes(tcp.payload)[:length])


NAMES = ("src", "sport", "dst", "dport", "flags", "seq", "ack", "data")


def _describe(pkt, isn: int, peer_isn: int) -> str:
    src, sport, dst, dport, flags, seq, ack, data = _fields(pkt)
    text = f"{src}:{sport} -> {dst}:{dport} [{flags}] seq=ISN+{(seq - isn) % MOD}"
    if "A" in flags:
        text += f" ack=peer ISN+{(ack - peer_isn) % MOD}"
    return text + (f" data={data!r}" if data else "")


def _isns(packets, me) -> tuple[int, int]:
    from scapy.all import TCP

    mine = next(p[TCP].seq for p in packets if "S" in p[TCP].flags and (p.src, p[TCP].sport) == me)
    theirs = next(p[TCP].seq for p in packets if "S" in p[TCP].flags and (p.src, p[TCP].sport) != me)
    return mine, theirs


def _built(story: Story, what: str, fn, *args):
    pkt = story.call(what, fn, *args, expected="a scapy IP / TCP packet")
    try:
        return _fields(pkt)
    except Exception as exc:  # not an IP/TCP packet at all
        story.fail("a scapy IP / TCP packet, e.g. IP(src=..., dst=...) / TCP(...)",
                   f"{pkt!r} ({type(exc).__name__}: {exc})")


def _compare(story: Story, got: tuple, real, isn: int, peer_isn: int, hint: str, flags_ok=None) -> None:
    """Fail unless GOT has the fields of the packet REAL (flags checked by FLAGS_OK if given)."""
    want = _fields(real)
    wrong = []
    for name, g, w in zip(NAMES, got, want):
        if name == "flags":
            if not (flags_ok(g) if flags_ok else g == w):
                wrong.append(f"flags {g!r}, expected {w!r}")
        elif name in ("seq", "ack") and g != w:
            base = isn if name == "seq" else peer_isn
            who = "your ISN" if name == "seq" else "the peer's ISN"
            wrong.append(f"{name} = {who}+{(g - base) % MOD}, expected {who}+{(w - base) % MOD}")
        elif g != w:
            wrong.append(f"{name} {g!r}, expected {w!r}")
    story.check(not wrong, f"the packet Linux sent: {_describe(real, isn, peer_isn)}", "; ".join(wrong), hint)


def _cut(packets, flags: str, occurrence: int = 0, me=None):
    """(packets before it, the packet): the OCCURRENCE-th packet from ME whose flags are exactly FLAGS."""
    from scapy.all import TCP

    found = [i for i, p in enumerate(packets) if str(p[TCP].flags) == flags and (p.src, p[TCP].sport) == me]
    i = found[occurrence]
    return packets[:i], packets[i]


# -- part 1 ---------------------------------------------------------------------------------------

def test_sequence_state(impl, connections):
    ex = load(impl, "ex11_handcraft")
    from scapy.all import TCP

    story = Story("ex11_handcraft.sequence_state")
    for who, (me, packets) in connections.items():
        isn, peer_isn = _isns(packets, me)
        for i, pkt in enumerate(packets):
            if i == 0 or (pkt.src, pkt[TCP].sport) != me:
                continue
            story.step(f"{who}'s connection: the capture up to frame {i + 1}, where {who}'s kernel sent "
                       f"[{pkt[TCP].flags}]")
            got = story.call(f"sequence_state(packets[:{i}], {me})", ex.sequence_state, packets[:i], me)
            want = (pkt[TCP].seq, pkt[TCP].ack)
            pair = isinstance(got, tuple) and len(got) == 2
            saw = f"(ISN+{(got[0] - isn) % MOD}, peer ISN+{(got[1] - peer_isn) % MOD})" if pair else repr(got)
            story.check(pair and tuple(got) == want,
                        f"(SND.NXT, RCV.NXT) = (ISN+{(want[0] - isn) % MOD}, peer ISN+{(want[1] - peer_isn) % MOD}):"
                        " the seq and ack Linux put in that packet", saw,
                        "a SYN and a FIN consume one number each; data its length (from the headers)")
            story.steps.pop()


def test_ack_of_synack(impl, connections):
    ex = load(impl, "ex11_handcraft")
    story = Story("ex11_handcraft.ack_of_synack")
    me, packets = connections["alice"]
    isn, peer_isn = _isns(packets, me)
    story.step("took the server's SYN-ACK from alice's connection (frame 2)")
    got = _built(story, "ack_of_synack(synack)", ex.ack_of_synack, packets[1])
    _compare(story, got, packets[2], isn, peer_isn, "ack = the SYN-ACK's seq + 1: the server's SYN counts as one")


@pytest.mark.parametrize("who,occurrence", [("alice", 0), ("alice", 1), ("bob", 0)])
def test_data_segment(impl, connections, who, occurrence):
    ex = load(impl, "ex11_handcraft")
    story = Story(f"ex11_handcraft.next_data ({who}'s data segment {occurrence + 1})")
    me, packets = connections[who]
    isn, peer_isn = _isns(packets, me)
    before, real = _cut(packets, "PA", occurrence, me)
    data = _fields(real)[7]
    story.step(f"took {who}'s connection up to the data segment its kernel sent next ({len(before)} packets)")
    got = _built(story, f"next_data(packets, {me}, {data!r})", ex.next_data, before, me, data)
    _compare(story, got, real, isn, peer_isn, "seq = SND.NXT (the SYN counted one), ack = RCV.NXT (every byte "
                                              "received, + 1 for the server's SYN)")


def test_data_right_after_the_syn_ack(impl, connections):
    ex = load(impl, "ex11_handcraft")
    story = Story("ex11_handcraft.next_data (right after the SYN-ACK)")
    me, packets = connections["alice"]
    isn, peer_isn = _isns(packets, me)
    story.step("took alice's SYN and the server's SYN-ACK only (a client may send data with its handshake ACK)")
    got = _built(story, f"next_data(packets[:2], {me}, b'alice\\r\\n')", ex.next_data, packets[:2], me,
                 b"alice\r\n")
    real = _fields(packets[2])  # Linux's handshake ACK: the same numbers
    story.check(got[5:7] == real[5:7], f"seq = ISN+1, ack = peer ISN+1: the numbers of the handshake's ACK",
                f"seq = ISN+{(got[5] - isn) % MOD}, ack = peer ISN+{(got[6] - peer_isn) % MOD}",
                "the SYN consumed one sequence number: the first data byte is ISN + 1")
    story.check(got[4] == "PA" and got[7] == b"alice\r\n", "flags 'PA' and the data b'alice\\r\\n'",
                f"flags {got[4]!r}, data {got[7]!r}")


@pytest.mark.parametrize("who,occurrence", [("alice", 1), ("bob", 1), ("bob", 2)])
def test_acknowledge(impl, connections, who, occurrence):
    ex = load(impl, "ex11_handcraft")
    story = Story(f"ex11_handcraft.acknowledge ({who}'s ACK {occurrence + 1})")
    me, packets = connections[who]
    isn, peer_isn = _isns(packets, me)
    before, real = _cut(packets, "A", occurrence, me)
    story.step(f"took {who}'s connection up to the bare ACK its kernel sent next ({len(before)} packets)")
    got = _built(story, f"acknowledge(packets, {me})", ex.acknowledge, before, me)
    _compare(story, got, real, isn, peer_isn, "ack = the server's last seq + its data length")


def test_fin(impl, connections):
    ex = load(impl, "ex11_handcraft")
    story = Story("ex11_handcraft.next_fin")
    me, packets = connections["alice"]
    isn, peer_isn = _isns(packets, me)
    before, real = _cut(packets, "FA", 0, me)
    story.step(f"took alice's connection up to the FIN her kernel sent ({len(before)} packets: she sent her name "
               "and a chat line)")
    got = _built(story, f"next_fin(packets, {me})", ex.next_fin, before, me)
    _compare(story, got, real, isn, peer_isn, "seq = SND.NXT: after every byte of data sent")


def test_ack_of_the_server_fin(impl, connections):
    ex = load(impl, "ex11_handcraft")
    story = Story("ex11_handcraft.acknowledge (after the server's FIN)")
    me, packets = connections["alice"]
    isn, peer_isn = _isns(packets, me)
    story.step("took alice's connection up to the server's FIN (both FINs sent)")
    got = _built(story, f"acknowledge(packets, {me})", ex.acknowledge, packets[:-1], me)
    _compare(story, got, packets[-1], isn, peer_isn, "the server's FIN counts as one: ack = its seq + 1")


def test_forged_reset(impl, connections):
    ex = load(impl, "ex11_handcraft")
    story = Story("ex11_handcraft.forged_reset")
    me, packets = connections["bob"]
    isn, peer_isn = _isns(packets, me)
    before, real = packets[:-1], packets[-1]
    story.step("took bob's connection up to the RST his own kernel sent (he closed with SO_LINGER 0)")
    got = _built(story, f"forged_reset(packets, victim={me})", ex.forged_reset, before, me)
    want = _fields(real)
    story.check(got[:4] == want[:4], f"from bob {me} to the server {SERVER}", f"{got[:4]}",
                "the attacker pretends to be the victim: source = the victim")
    story.check("R" in got[4], "the RST flag", got[4])
    story.check(got[5] == want[5], f"seq = bob's ISN+{(want[5] - isn) % MOD}: exactly the server's RCV.NXT, the "
                                   "seq of the RST bob's own kernel sent",
                f"seq = ISN+{(got[5] - isn) % MOD}",
                "the victim's SND.NXT, not its ack: only an exact match resets (RFC 5961)")
    server = SERVER
    story.step("forged the other way: a reset that ends the connection for bob, pretending to be the server")
    got = _built(story, f"forged_reset(packets, victim={server})", ex.forged_reset, before, server)
    want_seq = _fields(before[-1])[6]  # bob's last ack: the server's SND.NXT
    story.check(got[:4] == (*server, *me) and got[5] == want_seq,
                f"from the server to bob, seq = server ISN+{(want_seq - peer_isn) % MOD} (bob's last ack)",
                f"{got[:4]} seq = server ISN+{(got[5] - peer_isn) % MOD}")


# -- part 2, live -----------------------------------------------------------------------------------

NAME, LINE, PORT = "mallory", "hello from scapy, by hand", 61000


@pytest.fixture(scope="module")
def live(request):
    """One run of the student's handshake_by_hand in an emulated network; everything removed afterwards."""
    from tests.helpers.privilege import privilege_problem

    problem = privilege_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"privileged test cannot run in CI: {problem}", pytrace=False)
        pytest.skip(f"needs privileges: {problem}")
    from lab.capture.sniffer import Sniffer
    from lab.craft import members
    from lab.craft.diagnose import diagnose
    from lab.craft.guard import KernelGuard
    from lab.net.netlab import Netlab

    impl = request.config.getoption("--impl") or default_impl()
    net = Netlab(prefix=f"ex11g{os.getpid() % 100000}", clients=2)
    net.up()
    request.addfinalizer(net.down)
    server = members.start_server(net)
    request.addfinalizer(server.stop)
    address = (net.address("server"), members.CHAT_PORT)
    me = (net.address("client1"), PORT)
    bob = members.TerminalClient(net, "client2", address, "bob")
    request.addfinalizer(bob.stop)
    bob.joined()
    KernelGuard(net, "client1", address, str(PORT)).install()
    sniffer = Sniffer(iface="eth0", port=PORT, netns=net.netns("client1")).start()
    # Imported, not run with -m: the module is then the same one the other tests import.
    launcher = f"import sys; from {impl}.ex11_handcraft import main; sys.exit(main(sys.argv[1:]))"
    arguments = ["live", address[0], "--local-port", str(PORT), "--name", NAME, "--line", LINE, "--no-guard"]
    command = [sys.executable, "-c", launcher, *arguments]
    try:
        done = net.exec("client1", command, timeout=45, cwd=str(ROOT))
        ran = f"exit status {done.returncode}" + (f"; it printed: {done.stderr.strip().splitlines()[-1]}"
                                                   if done.stderr.strip() else "")
    except subprocess.TimeoutExpired:
        ran = "it was still running after 45 s and was stopped (a wait without a timeout?)"
    seen_line = bob.wait_for(f"<{NAME}> {LINE}", 3)
    closed = members.wait_event(server, lambda e: e["kind"] == "closed" and e.get("name") == NAME, 3)
    sniffer.stop()
    verdict = diagnose(sniffer.segments, me, address)
    return SimpleNamespace(me=me, server=address, ran=ran, events=members.events(server), bob=bob,
                           seen_line=seen_line, closed=closed, verdict=verdict,
                           command=" ".join(["python -m", f"{impl}.ex11_handcraft", *arguments]))


def _live_story(live, title: str) -> Story:
    story = Story(title)
    story.step(f"started the chat server on {live.server[0]}:{live.server[1]} (host 'server') and a real "
               f"`chatlab client` as bob (host 'client2')")
    story.step(f"kept client1's kernel out of port {PORT} (the nftables guard) and captured client1's eth0")
    story.step(f"ran, in client1: {live.command} -- {live.ran}")
    return story


@pytest.mark.privileged
def test_live_handshake_and_name(impl, live):
    story = _live_story(live, "ex11_handcraft.handshake_by_hand: the handshake and the name")
    accepted = [e for e in live.events if e["kind"] == "accepted" and tuple(e["client"]) == live.me]
    named = [e for e in live.events if e["kind"] == "named" and accepted and e["conn"] == accepted[0]["conn"]]
    story.check(bool(accepted), f"the server's log: 'accepted {live.me[0]}:{live.me[1]}' (your handshake completed)",
                "no such connection in the server's log", live.verdict.explain())
    story.check(bool(named) and named[0]["name"] == NAME, f"the server's log: your connection joined as {NAME!r}",
                f"joined as {named[0]['name']!r}" if named else "it never joined", live.verdict.explain())


@pytest.mark.privileged
def test_live_line_reaches_a_real_client(impl, live):
    story = _live_story(live, "ex11_handcraft.handshake_by_hand: the chat line")
    story.check(live.seen_line is not None, f"bob's screen to show '<{NAME}> {LINE}'",
                "bob's screen: " + " | ".join(live.bob.lines()[-4:]), live.verdict.explain())


@pytest.mark.privileged
def test_live_close_with_fin(impl, live):
    story = _live_story(live, "ex11_handcraft.handshake_by_hand: the FIN")
    how = live.closed["how"] if live.closed else None
    story.check(how == "fin", "the server's log: your connection closed with 'FIN: recv() returned b''",
                f"closed: {how}" if how else "it was never closed in the server's log", live.verdict.explain())
    story.check(live.verdict.ok and live.verdict.closed,
                "every number right, both FINs acknowledged (the server's FIN with its seq + 1)",
                live.verdict.explain())
