"""What the lessons claim about TCP and UDP packets, as checks over a capture (sans-I/O).

Every function takes the annotated packets of a capture (``cap.next_step()``:
lab.capture.Annotated, in capture order) and returns Claims
(lab.notebook.claims) built from the raw numbers on the wire, the ones
tshark shows with ``-e tcp.seq_raw -e tcp.ack_raw``: a claim about the ISN
is checked on the ISN itself, not on Wireshark's relative numbers (which
are defined to make it look right).

No sockets here; lab/notebook/claims.py prints and raises.
"""

from __future__ import annotations

from lab.capture.decode import ACK, FIN, RST, SYN
from lab.notebook.claims import Claim

MOD = 1 << 32
# Linux's ISN clock (secure_tcp_seq() in net/core/secure_seq.c): the keyed
# hash of the 4-tuple plus ktime_get_real_ns() >> 6, one tick every 64 ns.
# Measured here: two SYN-ACKs on one 4-tuple 250.785 ms apart differ by
# 3,918,505 = 250.785 ms / 64 ns within 0.001 %.
ISN_TICK_NS = 64
# The SYN-ACK is built and timestamped by the capture in the same softirq
# that computes its ISN: 2 ms is far more than the distance between the two.
ISN_CLOCK_TOLERANCE_NS = 2_000_000


def _of(packets, stream: int) -> list:
    return [a for a in packets if a.stream == stream and a.segment.proto == "tcp"]


def _end(seg) -> int:
    """The sequence number after this segment: data bytes, plus one for a SYN and one for a FIN."""
    return (seg.seq + seg.length + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)) % MOD


def _syn(packets, stream: int):
    return next((a for a in _of(packets, stream) if a.segment.flags & (SYN | ACK) == SYN), None)


def _syn_ack(packets, stream: int):
    return next((a for a in _of(packets, stream) if a.segment.flags & (SYN | ACK) == SYN | ACK), None)


def _missing(text: str, what: str) -> Claim:
    return Claim(text, False, f"the capture has no {what}")


def handshake(packets, stream: int = 0) -> list[Claim]:
    """The three-way handshake of connection ``stream``: SYN, SYN-ACK = ISN + 1, ACK = server ISN + 1."""
    syn, syn_ack = _syn(packets, stream), _syn_ack(packets, stream)
    third = next((a for a in _of(packets, stream) if a.step == "ACK 3/3"), None)
    text_syn = "the SYN carries no data byte"
    text_sa = "the SYN-ACK acknowledges the client's ISN + 1"
    text_ack = "the third packet acknowledges the server's ISN + 1"
    if syn is None:
        return [_missing(text_syn, f"SYN in connection {stream}")]
    claims = [Claim(text_syn, syn.segment.length == 0, f"SYN length {syn.segment.length}")]
    if syn_ack is None:
        return claims + [_missing(text_sa, f"SYN-ACK in connection {stream}")]
    expected = (syn.segment.seq + 1) % MOD
    claims.append(Claim(text_sa, syn_ack.segment.ack == expected,
                        f"ack {syn_ack.segment.ack} = ISN {syn.segment.seq} + 1"
                        if syn_ack.segment.ack == expected else
                        f"ack {syn_ack.segment.ack}, but ISN {syn.segment.seq} + 1 = {expected}"))
    if third is None:
        return claims + [_missing(text_ack, f"ACK 3/3 in connection {stream}")]
    expected = (syn_ack.segment.seq + 1) % MOD
    claims.append(Claim(text_ack, third.segment.ack == expected,
                        f"ack {third.segment.ack} = server ISN {syn_ack.segment.seq} + 1"))
    return claims


def first_data_byte(packets, stream: int = 0, role: str = "client") -> Claim:
    """The first data byte a side sends is numbered ISN + 1: its SYN took one sequence number."""
    who = "client's" if role == "client" else "server's"
    text = f"the SYN takes one sequence number: the {who} first data byte is ISN + 1"
    opening = _syn(packets, stream) if role == "client" else _syn_ack(packets, stream)
    data = next((a for a in _of(packets, stream) if a.role == role and a.segment.length), None)
    if opening is None or data is None:
        return _missing(text, f"{'SYN' if role == 'client' else 'SYN-ACK'} and {role} data in connection {stream}")
    isn = opening.segment.seq
    return Claim(text, data.segment.seq == (isn + 1) % MOD,
                 f"first data segment seq {data.segment.seq} = ISN {isn} + 1")


def acknowledged(packets, stream: int = 0, role: str = "client", nth: int = -1) -> Claim:
    """The peer's ACK of a data segment is its sequence number + length: the next byte expected."""
    mine = [a for a in _of(packets, stream) if a.role == role and a.segment.length]
    text = f"the ACK for the {role}'s data is seq + length: the next byte expected"
    if not mine:
        return _missing(text, f"data from the {role} in connection {stream}")
    data = mine[nth]
    after = _of(packets, stream)
    for later in after[after.index(data) + 1:]:
        if later.role == role and later.segment.length:
            data = later  # more data before the ACK: the ACK may cover that one too
            continue
        covered = (later.segment.ack - data.segment.seq) % MOD
        if later.role == role or not later.segment.flags & ACK or covered == 0 or covered >= MOD // 2:
            continue  # not an ACK of this segment (yet)
        expected = _end(data.segment)
        return Claim(text, later.segment.ack == expected,
                     f"{data.segment.length} bytes at seq {data.segment.seq} (relative {data.seq}), "
                     f"ack {later.segment.ack} (relative {later.ack}) = seq + {data.segment.length}"
                     if later.segment.ack == expected else
                     f"{data.segment.length} bytes at seq {data.segment.seq}, but ack {later.segment.ack}")
    return _missing(text, f"ACK of the {role}'s data in connection {stream}")


def fins_take_one(packets, stream: int = 0) -> list[Claim]:
    """Each FIN takes one sequence number: its ACK is FIN seq + data length + 1."""
    conn = _of(packets, stream)
    fins = [a for a in conn if a.segment.flags & FIN]
    text = "a FIN takes one sequence number (and is no data byte)"
    if not fins:
        return [_missing(text, f"FIN in connection {stream}")]
    claims = []
    for fin in fins:
        expected = _end(fin.segment)
        ack = next((a for a in conn[conn.index(fin) + 1:]
                    if a.role != fin.role and a.segment.flags & ACK and a.segment.ack == expected), None)
        length = fin.segment.length
        claims.append(Claim(f"the {fin.role}'s FIN takes one sequence number", ack is not None,
                            f"FIN at relative seq {fin.seq}" + (f" with {length} data bytes" if length else "")
                            + (f", acknowledged with relative ack {ack.ack} = {fin.seq} + {length} + 1"
                               if ack is not None else f": no ACK of {fin.seq + length + 1} follows")))
    return claims


def refused(packets, stream: int = 0) -> list[Claim]:
    """A SYN to a port where nothing listens is answered by RST (acknowledging the SYN), never a SYN-ACK."""
    syn = _syn(packets, stream)
    text = "a SYN to a closed port is answered by an RST, not a SYN-ACK"
    if syn is None:
        return [_missing(text, "SYN")]
    conn = _of(packets, stream)
    rst = next((a for a in conn if a.role == "server" and a.segment.flags & RST), None)
    syn_ack = _syn_ack(packets, stream)
    claims = [Claim(text, rst is not None and syn_ack is None,
                    "RST from the server's kernel" if rst is not None and syn_ack is None else
                    f"RST: {'yes' if rst else 'no'}, SYN-ACK: {'yes' if syn_ack else 'no'}")]
    if rst is not None:
        expected = (syn.segment.seq + 1) % MOD
        claims.append(Claim("the RST acknowledges the SYN, so the client knows it answers its own SYN",
                            bool(rst.segment.flags & ACK) and rst.segment.ack == expected,
                            f"RST+ACK with ack {rst.segment.ack} = ISN {syn.segment.seq} + 1"))
    return claims


def ephemeral_ports(packets, streams: list) -> list[Claim]:
    """Every connection has its own client (ephemeral) port; all share the server's port."""
    tcp = [s for s in streams if s.proto == "tcp"]
    text = "each connection has its own ephemeral port"
    if len(tcp) < 2:
        return [Claim(text, False, f"only {len(tcp)} connection(s) captured, two are needed to compare")]
    clients = [s.client[1] for s in tcp]
    servers = {s.server[1] for s in tcp}
    return [Claim(text, len(set(clients)) == len(clients),
                  f"{len(tcp)} connections, client ports {', '.join(map(str, clients))}"),
            Claim("all of them use the same server port", len(servers) == 1,
                  f"server port{'s' if len(servers) > 1 else ''} {', '.join(map(str, sorted(servers)))}")]


def ended_by(packets, stream: int, how: str, who: str) -> list[Claim]:
    """How connection ``stream`` ended: ``how`` is "fin" or "rst", sent by ``who`` ("client"/"server")."""
    conn = _of(packets, stream)
    rst = [a for a in conn if a.segment.flags & RST]
    fin = [a for a in conn if a.segment.flags & FIN and a.role == who]
    if how == "rst":
        text = f"the {who} ended connection {stream} with an RST, and sent no FIN"
        holds = any(a.role == who for a in rst) and not fin
        return [Claim(text, holds, f"RST from the {who}: {'yes' if any(a.role == who for a in rst) else 'no'}, "
                                   f"FIN from the {who}: {'yes' if fin else 'no'}")]
    text = f"the {who} closed connection {stream} with a FIN, not an RST"
    holds = bool(fin) and not rst
    return [Claim(text, holds, f"FIN from the {who}: {'yes' if fin else 'no'}, RST: {'yes' if rst else 'no'}")]


def data_after_fin(packets, stream: int = 0, closer: str = "client") -> Claim:
    """Half-close: after ``closer``'s FIN, the other side still sent data, and ``closer`` acknowledged it."""
    conn = _of(packets, stream)
    other = "server" if closer == "client" else "client"
    text = f"after the {closer}'s FIN, data still flowed from the {other} (half-close)"
    fin = next((a for a in conn if a.role == closer and a.segment.flags & FIN), None)
    if fin is None:
        return _missing(text, f"FIN from the {closer}")
    later = [a for a in conn[conn.index(fin) + 1:] if a.role == other and a.segment.length]
    acked = later and any(a.role == closer and a.segment.flags & ACK and a.segment.ack == _end(later[-1].segment)
                          for a in conn[conn.index(later[-1]) + 1:])
    return Claim(text, bool(later) and bool(acked),
                 f"{sum(a.segment.length for a in later)} bytes from the {other} after the FIN"
                 + (", acknowledged by the " + closer if acked else ", not acknowledged"))


def isn_clock(packets) -> list[Claim]:
    """Linux's ISN = keyed hash of the 4-tuple + a clock: on the same 4-tuple the ISN grows with time.

    Needs at least two connections on the same 4-tuple and one on another
    client port.  Compares the SYN-ACKs (the server's ISNs): each is chosen
    in the softirq that sends it, so its capture time is its ISN's time.
    """
    offers = [a for a in packets if a.segment.proto == "tcp" and a.segment.flags & (SYN | ACK) == SYN | ACK]
    by_tuple: dict = {}
    for a in offers:
        s = a.segment
        by_tuple.setdefault((s.src, s.sport, s.dst, s.dport), []).append(s)
    repeated = next((v for v in by_tuple.values() if len(v) >= 2), None)
    text_clock = "on the same 4-tuple the ISN grows with the clock, one step per 64 ns"
    text_hash = "on another 4-tuple the ISN is unrelated (the keyed hash differs)"
    if repeated is None:
        return [_missing(text_clock, "two connections on the same 4-tuple")]
    a, b = repeated[0], repeated[1]
    elapsed = b.ts_ns - a.ts_ns
    grown = (b.seq - a.seq) % MOD
    error = grown * ISN_TICK_NS - elapsed
    claims = [Claim(text_clock, abs(error) <= ISN_CLOCK_TOLERANCE_NS,
                    f"{elapsed / 1e6:.3f} ms apart, the ISN grew by {grown:,} = {grown * ISN_TICK_NS / 1e6:.3f} ms "
                    f"/ 64 ns")]
    other = next((v[0] for k, v in by_tuple.items() if v is not repeated), None)
    if other is None:
        return claims + [_missing(text_hash, "connection on another client port")]
    elapsed = other.ts_ns - a.ts_ns
    grown = (other.seq - a.seq) % MOD
    off = grown * ISN_TICK_NS - elapsed
    claims.append(Claim(text_hash, abs(off) > ISN_CLOCK_TOLERANCE_NS,
                        f"port {other.dport} instead of {a.dport}: the clock alone predicts "
                        f"{(elapsed // ISN_TICK_NS) % MOD:,} more, the ISN differs by {grown:,}"))
    return claims


def within_window(packets, stream: int, sender: str) -> Claim:
    """Flow control: ``sender`` never sent a data byte beyond the window the receiver advertised.

    The right edge of the window is the receiver's last ACK number plus its
    window (scaled by the shift both SYNs agreed); data segments must end at
    or before it.  Window probes (no data) are not data.
    """
    conn = _of(packets, stream)
    receiver = "server" if sender == "client" else "client"
    syn, syn_ack = _syn(packets, stream), _syn_ack(packets, stream)
    text = f"the {sender} never sent beyond the window the {receiver} advertised"
    if syn is None or syn_ack is None:
        return _missing(text, "handshake (the window scale is agreed there)")
    scaled = syn.segment.wscale is not None and syn_ack.segment.wscale is not None
    shift = (syn_ack.segment.wscale if receiver == "server" else syn.segment.wscale) if scaled else 0
    edge = None
    checked = filled = 0
    for a in conn:
        s = a.segment
        if a.role == receiver and s.flags & ACK:
            window = s.window if s.flags & SYN else s.window << shift  # a SYN's window is never scaled
            edge = (s.ack + window) % MOD
        elif a.role == sender and s.length and edge is not None:
            beyond = (_end(s) - edge) % MOD
            if beyond < MOD // 2 and beyond:
                return Claim(text, False, f"packet {s.number} ends {beyond} bytes beyond the window")
            checked += 1
            filled += (edge - _end(s)) % MOD == 0
    if not checked:
        return _missing(text, f"data from the {sender} after the {receiver}'s first ACK")
    return Claim(text, True, f"{checked} data segments, each within the window"
                             + (f"; {filled} of them filled it exactly" if filled else ""))


def zero_window(packets, stream: int, role: str) -> Claim:
    """``role``'s kernel advertised a zero window: its receive buffer was full."""
    text = f"the {role}'s kernel advertised a zero window (its receive buffer was full)"
    zeros = [a for a in _of(packets, stream) if a.role == role and a.segment.window == 0
             and not a.segment.flags & (SYN | RST | FIN)]
    return Claim(text, bool(zeros), f"{len(zeros)} packets with window 0, the first is packet "
                                    f"{zeros[0].segment.number}" if zeros else "no packet with window 0")


def udp_datagrams_whole(packets, sent: list[bytes]) -> list[Claim]:
    """Each sendto() became exactly one datagram carrying exactly that message, and nothing else crossed."""
    udp = [a for a in packets if a.segment.proto == "udp"]
    other = [a for a in packets if a.segment.proto != "udp"]
    payloads = [a.segment.payload for a in udp]
    text_each = "each sendto() is one datagram carrying exactly that message"
    text_only = "no handshake and no acknowledgement: only the datagrams crossed"
    return [Claim(text_each, sorted(payloads) == sorted(sent) and len(udp) == len(sent),
                  f"{len(sent)} sendto() calls, {len(udp)} datagrams of "
                  f"{', '.join(str(len(p)) for p in payloads) or 'no'} bytes"),
            Claim(text_only, not other and bool(udp), f"{len(udp)} UDP packets, {len(other)} others")]
