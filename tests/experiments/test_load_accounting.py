"""Unit tests of the sans-I/O accounting of `chatlab load` (no sockets)."""

from __future__ import annotations

from lab.experiments.load.accounting import Histogram, Receiver, ReceiverResult, bucket_of, make_message, reach

RUN = "ab12"


def line(sender: int, seq: int, sent_ns: int, run: str = RUN, name: str = "Lab12s0") -> bytes:
    """A chat line as the server relays it (time, <name>, the text, CRLF)."""
    text = make_message(run, sender, seq, sent_ns).decode().rstrip("\n")
    return f"14:03:09 <{name}> {text}\r\n".encode()


def test_in_order_messages_are_unique_with_latency():
    rx = Receiver(RUN, counting=True)
    for seq in range(5):
        rx.feed(line(0, seq, 1_000_000_000), now_ns=1_002_000_000)  # 2 ms later
    assert (rx.unique, rx.duplicates, rx.out_of_order) == (5, 0, 0)
    assert rx.latency.total == 5
    assert rx.latency.max_us == 2000


def test_duplicate_is_counted_not_delivered_twice():
    rx = Receiver(RUN, counting=True)
    rx.feed(line(0, 0, 0) + line(0, 1, 0) + line(0, 1, 0), now_ns=0)
    assert rx.unique == 2 and rx.duplicates == 1


def test_late_message_is_out_of_order_but_unique():
    rx = Receiver(RUN, counting=True)
    rx.feed(line(3, 0, 0) + line(3, 2, 0) + line(3, 1, 0), now_ns=0)
    assert rx.unique == 3 and rx.out_of_order == 1 and rx.duplicates == 0
    rx.feed(line(3, 1, 0), now_ns=0)  # seen already: now a duplicate
    assert rx.duplicates == 1


def test_order_is_per_sender():
    rx = Receiver(RUN, counting=True)
    rx.feed(line(1, 0, 0) + line(2, 0, 0) + line(1, 1, 0) + line(2, 1, 0), now_ns=0)
    assert rx.unique == 4 and rx.out_of_order == 0


def test_line_split_across_chunks_is_counted_once():
    rx = Receiver(RUN, counting=True)
    data = line(0, 0, 0) + line(0, 1, 0)
    for i in range(len(data)):  # every possible cut point
        rx = Receiver(RUN, counting=True)
        rx.feed(data[:i], now_ns=0)
        rx.feed(data[i:], now_ns=0)
        assert rx.unique == 2, i


def test_other_runs_and_other_lines_are_ignored():
    rx = Receiver(RUN, counting=True)
    rx.feed(b"14:03:01 --- hello: welcome to chat-lab! What is your name?\r\n"
            b"14:03:04 --- history: the last 1 messages before you joined\r\n"
            + line(0, 0, 0, run="zz99")
            + b"14:03:04 --- history-end: end of history\r\n"
            b"14:03:05 *alice* ~L ab12 0 0 0\r\n"  # a private message is not a broadcast
            b"14:03:06 <bob> hello everyone\r\n", now_ns=0)
    assert rx.unique == 0 and rx.foreign == 1


def test_leave_events_are_collected():
    rx = Receiver(RUN, counting=True)
    rx.feed(b"14:03:31 *** Sab120 left (dropped: send queue exceeded)\r\n", now_ns=0)
    assert rx.left == [("Sab120", "dropped: send queue exceeded")]


def test_padding_reaches_the_size_and_keeps_the_token():
    message = make_message(RUN, 7, 9, 123, size=200)
    assert len(message) == 201 and message.endswith(b"\n")
    rx = Receiver(RUN, counting=True)
    rx.feed(b"00:00:00 <x> " + message, now_ns=123)
    assert rx.unique == 1


def test_histogram_percentiles_are_bucket_bounds():
    h = Histogram()
    for us in range(1, 101):  # 1..100 us
        h.add(us)
    h.add(50_000)  # one slow one: 50 ms
    assert h.percentile(50) == 60  # 10 us buckets: the 51st value (51 us) is in (50, 60]
    assert h.percentile(100) == 50_000
    assert h.max_us == 50_000
    assert bucket_of(5) == 10 and bucket_of(1500) == 1600 and bucket_of(15_000) == 16_000


def test_histogram_merge_and_round_trip():
    a, b = Histogram(), Histogram()
    a.add(100)
    b.add(2000)
    b.add(-5)  # a clock step backwards counts as 0, never as negative
    a.merge(Histogram.from_dict(b.to_dict()))
    assert a.total == 3 and a.max_us == 2000 and a.percentile(1) == 10


def test_reach_excludes_own_messages_and_finds_the_worst_receiver():
    sent = {0: 10, 1: 10}
    sender_of = {0: 0, 5: 1}  # client 0 is sender 0, client 5 is sender 1
    results = [
        ReceiverResult(0, 10, 0, 0, True),  # got all 10 of sender 1
        ReceiverResult(5, 10, 0, 0, True),  # got all 10 of sender 0
        ReceiverResult(9, 15, 1, 0, True),  # a pure receiver that missed 5 of 20
    ]
    r = reach(results, sent, sender_of)
    assert r["expected"] == 40 and r["delivered"] == 35
    assert r["reach"] == 35 / 40
    assert r["receivers_incomplete"] == 1 and r["worst_receiver_reach"] == 0.75
    assert r["duplicates"] == 1


def test_timeline_counts_per_second_and_keeps_the_slowest():
    timeline: dict[int, list[int]] = {}
    rx = Receiver(RUN, counting=True, timeline=timeline)
    rx.feed(line(0, 0, 10_000_000_000), now_ns=10_001_000_000)  # 1 ms, in second 10
    rx.feed(line(0, 1, 10_000_000_000), now_ns=10_005_000_000)  # 5 ms, in second 10
    rx.feed(line(0, 2, 10_900_000_000), now_ns=11_000_000_000)  # 100 ms, in second 11
    assert timeline == {10: [2, 5000], 11: [1, 100_000]}


def test_the_fast_token_pattern_agrees_with_the_wire_parser():
    # accounting.py finds tokens with one regex over a chunk (measured 5x cheaper
    # than parsing each line); it must accept exactly the lines lab.chat.wire
    # reads as public messages carrying a token, and take the same fields apart.
    import re

    from lab.chat import wire
    from lab.experiments.load.accounting import _TOKEN_LINE

    samples = [
        b"14:03:09 <Lab12s0> ~L ab12 3 17 1700000000000000000\r\n",
        b"14:03:09 <bob> ~L ab12 0 0 5 ....................\r\n",
        b"14:03:09 <bob> ~L zz99 12 40 5\n",
        b"14:03:09 *bob* ~L ab12 0 0 5\r\n",  # private
        b"14:03:09 ->bob ~L ab12 0 0 5\r\n",  # echo of our own private message
        b"14:03:09 --- info: ~L ab12 0 0 5\r\n",
        b"14:03:09 *** bob joined\r\n",
        b"4:03:09 <bob> ~L ab12 0 0 5\r\n",  # not a timestamp
        b"14:03:09 <bob>  ~L ab12 0 0 5\r\n",  # two spaces: the text does not start with the token
        b"14:03:09 <bob> hello ~L ab12 0 0 5\r\n",
        b"14:03:09 <bob> ~L AB12 0 0 5\r\n",  # runs are lower case
    ]
    for raw in samples:
        parsed = wire.parse_server_line(raw.decode())
        fields = None
        if parsed is not None and parsed.kind == "public":
            token = re.match(r"~L ([0-9a-z]+) (\d+) (\d+) (\d+)(?: |$)", parsed.text)
            fields = token.groups() if token else None
        found = _TOKEN_LINE.findall(raw)
        assert [tuple(f.decode() for f in m) for m in found] == ([fields] if fields else []), raw


def test_stall_verdict_tells_a_freeze_from_a_drop_from_a_backlog_still_absorbed():
    from lab.experiments.load.accounting import stall_verdict

    seconds = [{"t": t, "deliveries": 100} for t in range(11)]
    kept = {"registered": 1, "dropped": [], "names": ["S0"]}
    dropped = {"registered": 1, "dropped": [("S0", "dropped: send queue exceeded")], "names": ["S0"]}
    # deliveries stopped for good after second 2 of 10 and S0 was never dropped: frozen
    frozen = stall_verdict(kept, seconds[:3], 10, 0.25)
    assert frozen == {"state": "frozen", "last_delivery_second": 2, "kept": ["S0"], "dropped": []}
    assert stall_verdict(kept, [], 10, 0.0)["state"] == "frozen"
    assert stall_verdict(dropped, seconds, 10, 1.0)["state"] == "dropped"
    assert stall_verdict(kept, seconds, 10, 1.0)["state"] == "absorbing"
    # messages missing but deliveries went on to the end: not a freeze
    assert stall_verdict(kept, seconds, 10, 0.9)["state"] == "degraded"
    assert stall_verdict(kept, seconds[:10], 10, 0.9)["state"] == "degraded", "the last second may be partial"
    assert stall_verdict({"registered": 0, "dropped": [], "names": []}, seconds, 10, 1.0) is None
