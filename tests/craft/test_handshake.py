"""lab.craft.handshake for real: a member made by hand, our kernel's RST, the server's answers to mistakes."""

from __future__ import annotations

import pytest

from lab.craft import members
from lab.craft.guard import TABLE
from lab.craft.handshake import hand_join

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(120)]


def _guard_tables(net, host: str) -> str:
    return net.exec(host, ["nft", "list", "tables"]).stdout


def test_a_hand_made_connection_is_an_ordinary_member(net, room):
    server, bob = room
    address = (net.address("server"), members.CHAT_PORT)
    result = hand_join(net, "client1", address, "mallory", "hello from scapy")
    assert result.reached == "closed" and result.state == "TIME-WAIT", result.problem
    assert result.guard_dropped and result.guard_dropped > 0, "the guard rule never counted a segment"
    assert TABLE not in _guard_tables(net, "client1"), "the guard rule stayed after the experiment"
    assert bob.wait_for("<mallory> hello from scapy", 3), bob.lines()
    accepted = members.wait_event(server, lambda e: e["kind"] == "accepted" and tuple(e["client"]) == result.local)
    named = members.wait_event(server, lambda e: e["kind"] == "named" and e["conn"] == accepted["conn"])
    closed = members.wait_event(server, lambda e: e["kind"] == "closed" and e["conn"] == accepted["conn"])
    assert named["name"] == "mallory" and closed["how"] == "fin"


def test_without_the_guard_our_own_kernel_resets(net, room):
    result = hand_join(net, "client1", (net.address("server"), members.CHAT_PORT), "m", "x", guard=False,
                       port=61001)
    senders = [(s.sender, s.flags) for s in result.steps]
    assert ("our kernel", "R") in senders, senders
    assert senders[-1] == ("server", "R"), "the server did not reset our late ACK"


def test_the_classic_mistakes_get_the_servers_answer(net, room):
    address = (net.address("server"), members.CHAT_PORT)
    wrong_ack = hand_join(net, "client1", address, "m", "x", ack_offset=-1, port=61002)
    last = wrong_ack.steps[-1]
    assert (last.sender, last.flags, last.seq) == ("server", "R", wrong_ack.server_isn), \
        "an unacceptable ACK in the handshake: RST with seq = that ACK (RFC 9293 3.10.7.3)"
    early = hand_join(net, "client1", address, "mallory", "x", seq_offset=-1, port=61003)
    assert any("you are allory" in line for line in early.lines), early.lines
