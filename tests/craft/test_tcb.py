"""lab.craft.tcb: the hand-kept TCB predicts what Linux sent; its rules one by one."""

from __future__ import annotations

from lab.craft.tcb import HandConnection, Seen, consumed, seq_diff
from tests.craft.recorded import SERVER, connections


def test_a_hand_kept_tcb_predicts_every_packet_linux_sent():
    """Fed the server's segments, HandConnection answers with the seq and ack the client's kernel used."""
    (client, segments), _ = connections()
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
