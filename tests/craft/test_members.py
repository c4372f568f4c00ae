"""lab.craft.members: the server in a namespace host, a real chatlab client's screen, bounded waits."""

from __future__ import annotations

import pytest

from lab.craft import members
from lab.net.netlab import NetlabError

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(60)]


def test_the_room_in_the_emulated_network(net, room):
    server, bob = room
    assert members.events(server, "listening")[0]["address"][0] == net.address("server")
    named = members.wait_event(server, lambda e: e["kind"] == "named" and e["name"] == "bob")
    assert named is not None
    assert members.wait_event(server, lambda e: e["kind"] == "named" and e["name"] == "nobody", 0.2) is None
    assert bob.wait_for("no such line", 0.2) is None


def test_a_client_that_cannot_join_says_what_it_printed(net):
    lonely = members.TerminalClient(net, "client1", (net.address("server"), members.CHAT_PORT), "lonely")
    try:
        with pytest.raises(NetlabError, match="did not join"):
            lonely.joined(timeout=3)  # nothing listens: connection refused
    finally:
        assert lonely.stop() is not None
