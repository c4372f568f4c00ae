"""Why a segment was sent again: the likely cause of each retransmission, from the capture alone.

tshark says *that* a segment is a retransmission; this module says *why*
Linux most likely sent it, from what the capture shows before and after:

* ``tail_loss_probe``: the sender's last segment, re-sent a few
  milliseconds after no ACK came, before any timer could expire (RACK-TLP,
  RFC 8985 section 7: the probe timeout is about 2 x SRTT).  On loopback the
  receiver delays its ACK for a lone segment (Linux: 40 ms at least), so the
  probe fires with nothing lost;
* ``rto``: the oldest unacknowledged segment, re-sent after a silence as
  long as the retransmission timeout (RFC 6298; Linux never waits less than
  200 ms); a second timeout for the same bytes waits twice as long
  (exponential backoff);
* ``rto_recovery``: after a timeout, the rest of that window re-sent as ACKs
  come back (Linux marks everything in flight lost and slow-starts from one
  segment);
* ``fast_retransmit``: re-sent at once because the receiver reported a hole:
  duplicate ACKs (the classic rule of RFC 5681, three of them) or, as Linux
  does, SACK blocks above the missing bytes (RACK, RFC 8985, needs one);
* ``already_acked``: tshark's "spurious": the capture had already seen an
  ACK for these bytes.  The sender had not: that ACK was lost after the
  capture point, or was still on its way;
* ``first_copy_unseen``: the capture never saw these bytes before (its
  first copy was missed, or the network reordered segments).

A retransmission is also found *spurious later* when the receiver shows it
got the bytes twice: a D-SACK block (RFC 2883) covering them, or an ACK that
echoes the timestamp of the earlier copy (the Eifel test, RFC 3522).

These are inferences, not facts: the annotation says "most likely" and
names the packets it used.  Pure code, fed by :mod:`lab.capture.analysis`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from lab.capture.analysis import MASK, PacketAnalysis, seq_gt, seq_le, seq_lt
from lab.capture.decode import ACK
from lab.net.rto import INITIAL_RTO, LINUX_RTO_MIN, RttEstimator, linux_rto

TIMER_SLACK = 0.9          # a silence this fraction of the RTO counts as "the timer expired"
HISTORY = 20_000           # transmissions remembered per direction (bounded memory)
SIGNALS = 64               # loss signals (SACK / duplicate ACKs) remembered per direction

CAUSES = ("tail_loss_probe", "rto", "rto_recovery", "fast_retransmit", "already_acked", "first_copy_unseen",
          "unknown")


@dataclass
class Retransmission:
    """One re-sent segment and what most likely caused it."""

    frame: int
    seq: int                  # relative sequence numbers of the re-sent bytes
    end: int
    ts_ns: int
    cause: str                # one of CAUSES
    original_frame: int | None = None     # the first copy the capture saw
    original_ns: int | None = None
    silence: float = 0.0      # seconds since the connection last carried anything before this copy
    rto_estimate: float = INITIAL_RTO
    evidence_frame: int | None = None     # the ACK that reported the hole, or that had acknowledged it
    evidence: str = ""        # "sack", "dupack", "ack" (for already_acked), "timeout" (for rto_recovery)
    timeouts: int = 0         # earlier timeouts for these bytes (backoff: the timer doubled each time)
    timer_expired: bool = False           # the silence before it was as long as the shortest RTO
    single_in_flight: bool = False        # nothing else was outstanding (a probe waits about as long as RTO)
    tsval: int | None = None
    spurious_by: tuple[str, int] | None = None   # ("dsack" | "eifel", frame) when proved a duplicate later

    @property
    def since_original(self) -> float | None:
        """Seconds since the first copy was captured."""
        return None if self.original_ns is None else (self.ts_ns - self.original_ns) / 1e9


@dataclass
class _Signal:
    frame: int
    ts_ns: int
    ack: int
    above: int | None      # highest SACKed sequence number above the ACK, if any
    dupack: bool


@dataclass
class _Direction:
    """What one sender did, as far as the causes need it."""

    starts: list = field(default_factory=list)     # relative seq of first transmissions, sorted
    sends: list = field(default_factory=list)      # (seq, end, frame, ts_ns), same order
    highest: int | None = None                     # relative nextseq of the newest data
    last_send_ns: int = 0
    retransmissions: list = field(default_factory=list)   # Retransmission, not yet proved or acked
    timeouts: dict = field(default_factory=dict)   # seq -> number of timeouts seen for it
    recovery_until: int | None = None              # after an RTO: until the ACK passes this
    recovery_frame: int | None = None              # the timeout that started that recovery
    last_retx_ns: dict = field(default_factory=dict)   # seq -> when it was last re-sent
    rtt: RttEstimator = field(default_factory=lambda: RttEstimator(min_rto=0.0, max_rto=math.inf))
    # SRTT and RTTVAR by RFC 6298 (as Linux updates them); its RTO is not Linux's: see rto()
    acks: list = field(default_factory=list)       # (ack, frame) of the peer's advancing ACKs
    signals: list = field(default_factory=list)    # _Signal from the peer
    cum_ack: int | None = None                     # the peer's cumulative ACK (relative)

    @property
    def srtt(self) -> float | None:
        """The smoothed round-trip time in seconds (None before the first sample)."""
        return self.rtt.srtt

    def rto(self) -> float:
        """The retransmission timeout as Linux computes it: SRTT + max(4 x RTTVAR, 200 ms) (lab.net.rto).

        (RFC 6298 says SRTT + 4 x RTTVAR, at least 1 s; Linux's floor of
        200 ms applies to the variance term, so the RTO is never below
        SRTT + 200 ms.)  1 s before the first RTT sample.
        """
        return linux_rto(self.rtt.srtt, self.rtt.rttvar)

    def shortest_rto(self) -> float:
        """The least the timer can wait: SRTT + 200 ms (the variance estimate is a guess)."""
        return INITIAL_RTO if self.srtt is None else self.srtt + LINUX_RTO_MIN


@dataclass
class Step:
    """What one packet tells about loss recovery."""

    retransmission: Retransmission | None = None   # this packet, if it is a re-sent copy
    proved: list = field(default_factory=list)     # earlier retransmissions this ACK proves spurious
    rtt_ambiguous: bool = False   # this ACK covers re-sent bytes: its ack_rtt is no round-trip time (Karn)


class LossRecovery:
    """Follows each direction of each connection and explains its retransmissions."""

    def __init__(self) -> None:
        self._dirs: dict = {}
        self._last_ns: dict = {}   # stream -> time of its previous packet
        self._sent_retx: set = set()

    def _dir(self, stream: int, role: str) -> _Direction:
        return self._dirs.setdefault((stream, role), _Direction())

    def feed(self, pa: PacketAnalysis) -> Step:
        """Take the next analysed TCP packet; say what it tells (see Step)."""
        seg = pa.segment
        peer_role = "server" if pa.role == "client" else "client"
        me, peer = self._dir(pa.stream, pa.role), self._dir(pa.stream, peer_role)
        previous_ns = self._last_ns.get(pa.stream, seg.ts_ns)
        self._last_ns[pa.stream] = seg.ts_ns
        step = Step()
        if seg.flags & ACK:
            step.proved, step.rtt_ambiguous = self._acknowledges(pa, peer)
        if seg.length:
            step.retransmission = self._data(pa, me, previous_ns)
        return step

    # -- the ACK side: RTT, loss signals, proofs ----------------------------------------
    def _acknowledges(self, pa: PacketAnalysis, sender: _Direction) -> tuple[list[Retransmission], bool]:
        """This packet acknowledges ``sender``'s data: learn from it.

        Returns the retransmissions it proves spurious, and whether it covers
        re-sent bytes (then its ack_rtt measured the wait for the copy, not a
        round trip: Karn's rule, RFC 6298 section 3, leaves it out).
        """
        ack, ts = pa.ack, pa.segment.ts_ns
        before = sender.cum_ack
        ambiguous = pa.acks_frame in self._sent_retx or any(
            seq_lt(retx.seq, ack) and (before is None or seq_gt(retx.end, before))
            for retx in sender.retransmissions)
        if pa.ack_rtt is not None and not ambiguous:
            sender.rtt.sample(pa.ack_rtt)
        advanced = sender.cum_ack is None or seq_gt(ack, sender.cum_ack)
        if advanced:
            sender.cum_ack = ack
            sender.acks.append((ack, pa.segment.number))
            del sender.acks[:-HISTORY]
            if sender.recovery_until is not None and not seq_lt(ack, sender.recovery_until):
                sender.recovery_until = None
        above = max((re for le, re in zip(pa.sack_le, pa.sack_re) if seq_gt(le, ack)), default=None,
                    key=lambda r: (r - ack) & MASK)
        if above is not None or "duplicate_ack" in pa.flags:
            sender.signals.append(_Signal(pa.segment.number, ts, ack, above, "duplicate_ack" in pa.flags))
            del sender.signals[:-SIGNALS]
        proved = []
        for retx in list(sender.retransmissions):
            if pa.dsack and seq_le(pa.dsack[0], retx.seq) and seq_le(retx.end, pa.dsack[1]) \
                    and retx.ts_ns <= ts:
                retx.spurious_by = ("dsack", pa.segment.number)
            elif (seq_le(retx.end, ack) and retx.tsval is not None and pa.tsecr is not None
                  and seq_lt(pa.tsecr, retx.tsval)):
                retx.spurious_by = ("eifel", pa.segment.number)   # the ACK echoes an older copy's timestamp
            elif not seq_le(retx.end, ack):
                continue
            sender.retransmissions.remove(retx)   # decided (or simply acknowledged): forget it
            if retx.spurious_by:
                proved.append(retx)
        return proved, ambiguous

    # -- the data side ----------------------------------------------------------------------
    def _data(self, pa: PacketAnalysis, me: _Direction, previous_ns: int) -> Retransmission | None:
        seg = pa.segment
        seq, end, ts = pa.seq, (pa.seq + seg.length) & MASK, seg.ts_ns
        original = self._first_copy(me, seq)
        resent = pa.is_retransmission or "out_of_order" in pa.flags
        if not resent:
            if me.highest is None or seq_gt(end, me.highest):
                me.starts.append(seq)
                me.sends.append((seq, end, seg.number, ts))
                if len(me.sends) > HISTORY:
                    del me.starts[0], me.sends[0]
                me.highest = end
            me.last_send_ns = ts
            return None
        silence = (ts - previous_ns) / 1e9
        rto = me.rto()
        retx = Retransmission(seg.number, seq, end, ts, "unknown", rto_estimate=rto, silence=silence,
                              tsval=pa.tsval)
        if original is not None:
            retx.original_frame, retx.original_ns = original[2], original[3]
        tail = me.highest == end
        retx.single_in_flight = (me.cum_ack is None or seq == me.cum_ack) and tail
        retx.timeouts = me.timeouts.get(seq, 0)
        timer = retx.timer_expired = silence >= TIMER_SLACK * me.shortest_rto()
        head = me.cum_ack is None or seq == me.cum_ack
        probe_wait = max(0.001, 2 * (me.srtt or 0.0) * TIMER_SLACK)   # a probe waits 2 x SRTT at least
        signal = self._loss_signal(me, seq, original[3] if original else None)
        if "spurious_retransmission" in pa.flags:
            retx.cause, retx.evidence = "already_acked", "ack"
            retx.evidence_frame = self._acked_by(me, end)
        elif timer:
            # The timer that fired re-sends the oldest bytes; a probe re-sends the newest.
            retx.cause = "tail_loss_probe" if tail and not head else "rto"
        elif me.recovery_until is not None and seq_lt(seq, me.recovery_until):
            retx.cause, retx.evidence, retx.evidence_frame = "rto_recovery", "timeout", me.recovery_frame
        elif "fast_retransmission" in pa.flags or signal is not None:
            retx.cause = "fast_retransmit"
            if signal is not None:
                retx.evidence_frame = signal.frame
                retx.evidence = "sack" if signal.above is not None else "dupack"
            else:
                retx.evidence = "dupack"
        elif tail and silence >= probe_wait:
            retx.cause = "tail_loss_probe"
        elif original is None:
            retx.cause = "first_copy_unseen"
        if timer and retx.cause != "tail_loss_probe":   # a timeout: cwnd falls to one segment, recovery starts
            me.timeouts[seq] = retx.timeouts + 1
            me.recovery_until, me.recovery_frame = me.highest, seg.number
        me.last_retx_ns[seq] = ts
        me.retransmissions.append(retx)
        del me.retransmissions[:-HISTORY]
        self._sent_retx.add(seg.number)
        me.last_send_ns = ts
        return retx

    @staticmethod
    def _first_copy(me: _Direction, seq: int):
        """The first transmission that carried sequence number ``seq``, if the capture saw it."""
        i = bisect.bisect_right(me.starts, seq) - 1
        if i >= 0:
            start, end, frame, ts = me.sends[i]
            if seq_le(start, seq) and seq_lt(seq, end):
                return me.sends[i]
        return None

    @staticmethod
    def _loss_signal(me: _Direction, seq: int, since_ns: int | None) -> _Signal | None:
        """The latest report from the receiver that ``seq`` is missing, after its first copy was
        sent and after its last retransmission (a report answered once is used up)."""
        resent_ns = me.last_retx_ns.get(seq, 0)
        for signal in reversed(me.signals):
            if (since_ns is not None and signal.ts_ns < since_ns) or signal.ts_ns < resent_ns:
                break
            if seq_gt(signal.ack, seq):
                continue     # acknowledged past it: not a hole at seq
            if signal.above is not None and seq_gt(signal.above, seq):
                return signal
            if signal.dupack and signal.ack == seq:
                return signal
        return None

    @staticmethod
    def _acked_by(me: _Direction, end: int) -> int | None:
        """The first ACK from the peer that covered ``end``."""
        for ack, frame in me.acks:
            if seq_le(end, ack):
                return frame
        return None
