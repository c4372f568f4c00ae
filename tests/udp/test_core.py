"""UdpChatCore and UdpClientCore with no socket: membership, cookies, sizes, expiry."""

from __future__ import annotations

import pytest

from lab.chat import wire as p
from lab.chat.room import Room
from lab.udp import (IDLE_TIMEOUT, JOIN_PADDING, MAX_DATAGRAM, Challenge, ServerLineDatagram, UdpChatCore,
                     UdpClientCore, decode_client, decode_server, encode_join, encode_message,
                     encode_server_line)

A = ("10.0.0.1", 40001)
B = ("10.0.0.2", 40002)
C = ("10.0.0.3", 40003)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def core(clock):
    return UdpChatCore(Room(clock=lambda: 0.0), secret=b"k" * 32, clock=clock)


def lines_for(out, address):
    got = []
    for to, data in out:
        if to == address:
            d = decode_server(data)
            assert isinstance(d, ServerLineDatagram), data
            got.append(d)
    return got


def join(core, address, name):
    """Join the way a client does: join, get the cookie, join again with it."""
    out = core.receive(address, encode_join(name))
    (to, data), = out
    challenge = decode_server(data)
    assert isinstance(challenge, Challenge)
    return core.receive(address, encode_join(name, challenge.cookie))


def test_join_needs_a_cookie_and_then_welcomes(core):
    out = core.receive(A, encode_join("alice"))
    assert len(out) == 1 and out[0][1].startswith(b"C ")
    assert A not in core.members  # no state for an unverified address
    cookie = out[0][1].split()[1].decode()
    out = core.receive(A, encode_join("alice", cookie))
    welcome = lines_for(out, A)
    assert welcome and "welcome" in welcome[0].line and welcome[0].seq == 1
    assert core.room.name_of(A) == "alice"


def test_anti_amplification_never_answers_more_than_received(core):
    for data in (encode_join("alice", pad_to=0), b"J - a", b"M 1 hi", encode_join("bob"), b"x" * 5000,
                 encode_join("carol", "0" * 24), b"K"):
        out = core.receive(A, data)
        assert sum(len(d) for _, d in out) <= len(data), data
    assert A not in core.members


def test_a_short_join_gets_no_answer_a_padded_one_does(core):
    assert core.receive(A, b"J - al") == []
    assert len(encode_join("al")) == JOIN_PADDING
    assert core.receive(A, encode_join("al"))


def test_cookie_is_bound_to_the_address_and_expires(core, clock):
    cookie = core.cookie_for(A)
    assert core.receive(B, encode_join("bob", cookie))[0][1].startswith(b"C ")  # B cannot use A's cookie
    assert B not in core.members and core.stats["bad_cookie"] == 1
    clock.now += 130  # two minutes later
    out = core.receive(A, encode_join("alice", cookie))
    assert A not in core.members and out[0][1].startswith(b"C ")


def test_name_rules_come_from_the_room(core):
    join(core, A, "alice")
    out = join(core, B, "ALICE")
    (err,) = lines_for(out, B)
    assert "!!! name-taken" in err.line
    out = core.receive(B, encode_join("9lives", core.cookie_for(B)))
    assert "!!! name-invalid" in lines_for(out, B)[0].line
    out = core.receive(B, encode_join("bob", core.cookie_for(B)))
    assert "welcome" in lines_for(out, B)[0].line
    assert "bob joined" in lines_for(out, A)[-1].line


def test_messages_are_relayed_with_the_senders_number(core):
    join(core, A, "alice")
    join(core, B, "bob")
    join(core, C, "carol")
    out = core.receive(A, encode_message(1, "hello"))
    for who in (B, C):
        (d,) = lines_for(out, who)
        assert d.line.endswith("<alice> hello") and d.origin == 1
    assert lines_for(out, A) == []
    out = core.receive(A, encode_message(2, "/msg bob psst"))
    assert lines_for(out, B)[0].origin == 2 and "*alice* psst" in lines_for(out, B)[0].line
    assert lines_for(out, A)[0].origin is None  # the echo to alice is the server's own line
    assert lines_for(out, C) == []


def test_duplicates_are_dropped_and_counted_reordering_is_relayed(core):
    join(core, A, "alice")
    join(core, B, "bob")
    assert lines_for(core.receive(A, encode_message(1, "one")), B)
    assert core.receive(A, encode_message(1, "one")) == []
    assert lines_for(core.receive(A, encode_message(3, "three")), B)
    assert lines_for(core.receive(A, encode_message(2, "two")), B)  # late, still relayed
    up = core.members[A].upstream
    assert (up.duplicated, up.out_of_order, up.lost) == (1, 1, 0)
    assert core.stats["duplicates_dropped"] == 1


def test_each_member_gets_its_own_numbers(core):
    join(core, A, "alice")
    join(core, B, "bob")
    out = core.receive(B, encode_message(1, "hi"))
    seqs_a = [d.seq for d in lines_for(out, A)]
    assert seqs_a == [core.members[A].sent]
    assert core.members[A].sent == 3  # welcome, bob joined, hi


def test_idle_members_expire_with_a_timeout_reason(core, clock):
    join(core, A, "alice")
    join(core, B, "bob")
    clock.now += IDLE_TIMEOUT - 1
    core.receive(B, b"K")  # bob keeps alive
    assert core.expire() == []
    clock.now += 2
    out = core.expire()
    assert A not in core.members and B in core.members
    assert "alice left (timeout:" in lines_for(out, B)[0].line


def test_quit_removes_the_member(core):
    join(core, A, "alice")
    join(core, B, "bob")
    out = core.receive(A, encode_message(1, "/quit see you"))
    assert "bye" in lines_for(out, A)[0].line
    assert "alice left (quit: see you)" in lines_for(out, B)[0].line
    assert A not in core.members


def test_unknown_address_sending_lines_is_asked_to_rejoin(core):
    out = core.receive(A, encode_message(5, "x" * 40))
    assert out and out[0][1].startswith(b"C ")


# -- sizes ------------------------------------------------------------------

def test_a_line_that_would_not_fit_is_refused_by_the_client():
    encode_message(1, "x" * (MAX_DATAGRAM - 4))
    with pytest.raises(ValueError):
        encode_message(1, "x" * (MAX_DATAGRAM - 3))
    with pytest.raises(ValueError):
        encode_message(1, "é" * 600)  # 1200 bytes of text: the limit is bytes, not characters


def test_server_lines_are_cut_to_fit():
    data = encode_server_line(7, None, "12:00:00 --- list: " + "é" * 2000)
    assert len(data) <= MAX_DATAGRAM
    data.decode("utf-8")  # cut at a character boundary
    assert decode_server(data).line.endswith("...")


def test_too_big_datagram_from_a_member_gets_an_error(core):
    join(core, A, "alice")
    out = core.receive(A, b"M 1 " + b"x" * 1300)
    assert "!!! too-big" in lines_for(out, A)[0].line


def test_too_long_line_gets_the_protocol_error(core):
    join(core, A, "alice")
    out = core.receive(A, encode_message(1, "x" * 1100))
    assert "!!! line-too-long" in lines_for(out, A)[0].line


def test_control_characters_are_cleaned_like_tcp(core):
    join(core, A, "alice")
    join(core, B, "bob")
    out = core.receive(A, encode_message(1, "hi \x1b[31mred\x1b[0m"))
    assert lines_for(out, B)[0].line.endswith("<alice> hi red")


def test_decode_rejects_garbage():
    for data in (b"", b"M", b"M x hi", b"M 0 hi", b"J", b"Z 1 2", b"J  "):
        assert decode_client(data) is None, data


# -- the client core --------------------------------------------------------

def test_client_core_full_exchange(core):
    alice = UdpClientCore("alice")
    out = core.receive(A, alice.join_datagram())
    alice.receive(out[0][1])
    assert alice.reply and alice.cookie
    for _, data in core.receive(A, alice.reply):
        alice.receive(data)
    assert alice.joined
    bob = UdpClientCore("bob")
    bob.receive(core.receive(B, bob.join_datagram())[0][1])
    for to, data in core.receive(B, bob.reply):
        (alice if to == A else bob).receive(data)
    for text in ("one", "two", "three"):
        for to, data in core.receive(A, alice.line(text)):
            (alice if to == A else bob).receive(data)
    assert bob.origins["alice"].to_dict()["received"] == 3
    assert bob.origins["alice"].lost == 0
    assert bob.downstream.lost == 0 and bob.downstream.received == 4  # welcome + 3


def test_client_core_counts_loss_and_duplicates_downstream():
    c = UdpClientCore("bob")
    for seq in (1, 2, 2, 5, 4):
        c.receive(encode_server_line(seq, None, f"12:00:00 --- info: {seq}"))
    d = c.downstream
    assert (d.received, d.duplicated, d.lost, d.out_of_order) == (4, 1, 1, 1)


def test_client_core_notices_a_refusal():
    c = UdpClientCore("alice")
    c.receive(encode_server_line(1, None, p.format_error(0, "name-taken", "'alice' is online already")))
    assert c.refused and not c.joined


def test_addresses_are_compared_by_value_not_identity(core):
    """recvfrom returns a new tuple each time: the sender must still not get its own message."""
    join(core, tuple(A), "alice")
    join(core, tuple(B), "bob")
    out = core.receive((A[0], A[1] + 0), encode_message(1, "hello"))
    assert [to for to, _ in out] == [B]


def test_a_flooder_is_told_once_and_its_excess_datagrams_are_discarded(clock):
    core = UdpChatCore(Room(clock=lambda: 0.0), secret=b"k" * 32, clock=clock, rate=5, burst=3)
    join(core, A, "flooder")
    join(core, B, "bob")
    relayed, warnings = 0, 0
    for seq in range(1, 11):  # ten datagrams at the same instant: three fit the burst
        for to, data in core.receive(A, encode_message(seq, f"flood {seq}")):
            line = p.parse_server_line(decode_server(data).line)
            relayed += to == B and line.kind == "public"
            warnings += to == A and line.code == "flood"
    assert (relayed, warnings) == (3, 1)
    assert core.stats["flood_dropped"] == 7
    clock.now += 1.0  # the bucket refills: the sender is heard again
    out = core.receive(A, encode_message(11, "calm again"))
    assert [p.parse_server_line(d.line).text for d in lines_for(out, B)] == ["calm again"]


def test_a_full_server_refuses_a_verified_join_with_the_reason(clock):
    core = UdpChatCore(Room(clock=lambda: 0.0), secret=b"k" * 32, clock=clock, max_members=1)
    join(core, A, "alice")
    out = join(core, B, "bob")
    [reply] = lines_for(out, B)
    assert p.parse_server_line(reply.line).code == "server-full"
    assert B not in core.members and core.stats["refused_full"] == 1


# -- line ends, hints -------------------------------------------------------

def test_every_server_datagram_ends_with_a_line_end(core):
    out = core.receive(A, encode_join("alice")) + join(core, A, "alice") + core.receive(A, encode_message(1, "/list"))
    assert out and all(data.endswith(b"\r\n") for _, data in out)
    assert all(len(data) <= MAX_DATAGRAM for _, data in out)


def test_a_plain_line_from_a_stranger_gets_the_longest_hint_that_fits(core):
    from lab.udp import Hint, join_hint

    for size in range(0, 300):
        out = core.receive(C, b"x" * max(0, size - 1) + b"\n")
        assert sum(len(data) for _, data in out) <= size  # anti-amplification, hints included
        if out:
            assert isinstance(decode_server(out[0][1]), Hint) and out[0][1] == join_hint(size)
    assert core.receive(C, b"hi\n") == []  # shorter than any hint: nothing can be said
    assert b"J - NAME" in join_hint(100) and b"COOKIE" in join_hint(MAX_DATAGRAM)
    assert C not in core.members  # a hint keeps no state


def test_nc_line_ends_are_accepted_on_keepalives_and_joins(core):
    join(core, A, "alice")
    assert core.receive(A, b"K\n") == []
    assert core.stats["malformed"] == 0
    cookie = core.cookie_for(B)
    out = core.receive(B, f"J {cookie} bob\n".encode())
    assert "welcome: you are bob" in lines_for(out, B)[0].line


def test_a_server_full_line_is_outside_the_numbering():
    client = UdpClientCore("bob")
    lines = client.receive(encode_server_line(0, None, p.format_error(0, "server-full", "full")))
    assert lines and client.downstream.received == 0


def test_the_client_cleans_server_lines():
    client = UdpClientCore("bob")
    [line] = client.receive(encode_server_line(1, None, "12:00:00 <eve> \x1b[2Jhi\x1b]0;x\x07"))
    assert line == "12:00:00 <eve> hi"


def test_bot_members_stay_out_of_history(core):
    join(core, A, "loadbot")
    core.receive(A, encode_message(1, "/bot"))
    core.receive(A, encode_message(2, "token 1"))
    join(core, B, "bob")
    core.receive(B, encode_message(1, "a human line"))
    assert [p.parse_server_line(line).text for line in core.room.history] == ["a human line"]
