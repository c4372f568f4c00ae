"""Classic wrong answers to exercise 12, kept to prove the graded tests catch each one.

Each wrong answer is a patch: a function that takes a *fresh copy* of a
complete answer module (the reference one, in test_ex12_wrong_answers.py)
and replaces one piece by the mistake students make, written as they would
write it.  ``CAUGHT_BY`` names the graded checks that must fail on it.
Nothing here is a whole answer, so nothing here gives one away.
"""

from __future__ import annotations

from types import ModuleType


# -- step 1 -------------------------------------------------------------------------------------

def naive_compare(ex: ModuleType) -> None:
    """Sequence numbers subtracted as plain integers: wrong as soon as they wrap."""
    ex.seq_diff = lambda a, b: a - b


def sixteen_bit_compare(ex: ModuleType) -> None:
    """Serial arithmetic with 16 bits (TCP's window field is 16 bits, its sequence numbers are 32)."""
    def seq_diff(a, b):
        d = (a - b) % 2**16
        return d - 2**16 if d >= 2**15 else d
    ex.seq_diff = seq_diff


# -- steps 2 and 3: the sender --------------------------------------------------------------------

def no_retransmission(ex: ModuleType) -> None:
    """The timer runs, and nothing is ever sent again."""
    def on_timer(self, now):
        self.deadline = now + self.timer.rto
        return []
    ex.Sender.on_timer = on_timer


def timer_not_restarted(ex: ModuleType) -> None:
    """On expiry the datagrams are resent but the deadline stays in the past: every poll() resends."""
    def on_timer(self, now):
        for item in self.in_flight:
            item.retransmitted = True
        return [item.datagram for item in self.in_flight]
    ex.Sender.on_timer = on_timer


def ack_acknowledges_one(ex: ModuleType) -> None:
    """Each ACK removes one datagram, the oldest: not cumulative, so lost ACKs are never made up for."""
    def on_ack(self, ack, now):
        if self.in_flight and ex.seq_diff(ack, self.in_flight[0].seq) > 0:
            newest = self.in_flight.popleft()
            if newest.kind == ex.SYN:
                self.established = True
            if not newest.retransmitted:
                self.timer.sample(now - newest.sent_at)
            self.deadline = now + self.timer.rto if self.in_flight else None
    ex.Sender.on_ack = on_ack


def always_stop_and_wait(ex: ModuleType) -> None:
    """The window is ignored: one datagram at a time, whatever ``window`` says."""
    ex.Sender.usable_window = lambda self: 1


def resend_only_the_oldest(ex: ModuleType) -> None:
    """On a timeout only the oldest datagram goes again (TCP's RTO rule, not the Go-Back-N the exercise asks)."""
    def on_timer(self, now):
        if not self.in_flight:
            self.deadline = None
            return []
        self.timer.backoff()
        self.in_flight[0].retransmitted = True
        self.deadline = now + self.timer.rto
        return [self.in_flight[0].datagram]
    ex.Sender.on_timer = on_timer


# -- step 4: the receiver --------------------------------------------------------------------------

def ack_last_received(ex: ModuleType) -> None:
    """The receiver acknowledges the datagram that just arrived (seq + 1), not everything before a gap."""
    right = ex.Receiver.on_segment

    def on_segment(self, kind, seq, payload):
        answer = right(self, kind, seq, payload)
        return None if answer is None else ex.seq_add(seq, 1)
    ex.Receiver.on_segment = on_segment


def delivers_duplicates(ex: ModuleType) -> None:
    """A datagram that arrives twice is delivered twice."""
    right = ex.Receiver.on_segment

    def on_segment(self, kind, seq, payload):
        if kind == ex.DATA and self.next_expected is not None and ex.seq_diff(seq, self.next_expected) < 0:
            self.ready.append(payload)
        return right(self, kind, seq, payload)
    ex.Receiver.on_segment = on_segment


def drops_out_of_order(ex: ModuleType) -> None:
    """The textbook Go-Back-N receiver: anything but the next expected datagram is thrown away."""
    right = ex.Receiver.on_segment

    def on_segment(self, kind, seq, payload):
        if self.next_expected is not None and ex.seq_diff(seq, self.next_expected) > 0:
            return self.next_expected
        return right(self, kind, seq, payload)
    ex.Receiver.on_segment = on_segment


# -- step 5: RFC 6298 -------------------------------------------------------------------------------

def alpha_beta_swapped(ex: ModuleType) -> None:
    """alpha = 1/4 for SRTT and beta = 1/8 for RTTVAR: the RFC's constants the wrong way round."""
    ex.ALPHA, ex.BETA = 1 / 4, 1 / 8


def srtt_updated_first(ex: ModuleType) -> None:
    """SRTT updated before RTTVAR, so RTTVAR measures the distance from the NEW SRTT."""
    def sample(self, rtt):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.srtt = (1 - ex.ALPHA) * self.srtt + ex.ALPHA * rtt
            self.rttvar = (1 - ex.BETA) * self.rttvar + ex.BETA * abs(self.srtt - rtt)
        self.rto = min(max(self.srtt + max(self.granularity, ex.K * self.rttvar), self.min_rto), self.max_rto)
    ex.RttEstimator.sample = sample


def no_minimum(ex: ModuleType) -> None:
    """RTO = SRTT + 4 RTTVAR with no floor: on loopback a timeout of a fraction of a millisecond."""
    def sample(self, rtt):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - ex.BETA) * self.rttvar + ex.BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ex.ALPHA) * self.srtt + ex.ALPHA * rtt
        self.rto = min(self.srtt + max(self.granularity, ex.K * self.rttvar), self.max_rto)
    ex.RttEstimator.sample = sample


def no_backoff(ex: ModuleType) -> None:
    """The timeout never doubles."""
    ex.RttEstimator.backoff = lambda self: None


def samples_retransmissions(ex: ModuleType) -> None:
    """Karn's rule broken: an ACK after a retransmission is timed from the first copy."""
    right = ex.Sender.on_ack

    def on_ack(self, ack, now):
        for item in self.in_flight:
            item.retransmitted = False
        right(self, ack, now)
    ex.Sender.on_ack = on_ack


#: wrong answer -> the names of the graded checks (in test_ex12_reliable.py) that must fail on it
CAUGHT_BY = {
    naive_compare: ["check_sequence_numbers", "check_receiver_wraps", "check_cumulative_acks"],
    sixteen_bit_compare: ["check_sequence_numbers"],  # the receiver drops what is 2**15 away either way
    no_retransmission: ["check_stop_and_wait_retransmits", "check_go_back_n", "check_sender_uses_rtt",
                        "run_late"],
    timer_not_restarted: ["check_stop_and_wait_retransmits"],
    ack_acknowledges_one: ["check_cumulative_acks", "check_window_fills_and_slides"],
    always_stop_and_wait: ["check_window_fills_and_slides", "check_cumulative_acks"],
    resend_only_the_oldest: ["check_go_back_n"],
    ack_last_received: ["check_receiver_reassembles"],
    delivers_duplicates: ["check_receiver_in_order", "run_clean"],
    drops_out_of_order: ["check_receiver_reassembles"],
    alpha_beta_swapped: ["check_rfc6298"],
    srtt_updated_first: ["check_rfc6298"],
    no_minimum: ["check_rto_bounds_and_backoff"],
    no_backoff: ["check_rto_bounds_and_backoff", "check_sender_uses_rtt"],
    samples_retransmissions: ["check_sender_uses_rtt"],
}
