"""The room: membership, routing, history, leave notices. No sockets."""

from __future__ import annotations

from lab.chat import replies
from lab.chat import wire as p
from lab.chat.room import Close, Deliver, Room


def make_room(history=20):
    clock = iter(range(1_700_000_000, 1_800_000_000)).__next__
    return Room(history_size=history, clock=lambda: float(clock()))


def received(actions):
    """{member: [parsed server lines]} from a list of actions."""
    out = {}
    for action in actions:
        if isinstance(action, Deliver):
            for member in action.recipients:
                for raw in action.lines:
                    out.setdefault(member, []).append(p.parse_server_line(raw))
    return out


def joined(room, *names):
    for name in names:
        assert room.join(name, name).accepted
    return room


def test_hello_asks_for_a_name():
    [line] = received(make_room().hello("x"))["x"]
    assert (line.kind, line.code) == ("info", "hello")


def test_join_welcomes_and_tells_the_others():
    room = joined(make_room(), "alice", "bob")
    result = room.join("carol", "carol")
    got = received(result.actions)
    assert got["carol"][0].code == "welcome" and "3 online: alice, bob, carol" in got["carol"][0].text
    for other in ("alice", "bob"):
        assert [(l.kind, l.name, l.code) for l in got[other]] == [("event", "carol", "joined")]


def test_name_taken_ignores_case_and_allows_retry():
    room = joined(make_room(), "alice")
    refused = room.join("conn2", "ALICE")
    assert not refused.accepted
    [line] = received(refused.actions)["conn2"]
    assert line.code == "name-taken"
    assert "conn2" not in room
    assert room.join("conn2", "alice2").accepted


def test_invalid_name_is_refused_with_the_rule():
    result = make_room().join("c", "no spaces")
    assert not result.accepted
    assert received(result.actions)["c"][0].code == "name-invalid"


def test_message_goes_to_everyone_but_the_sender():
    room = joined(make_room(), "alice", "bob", "carol")
    got = received(room.receive("alice", "hello"))
    assert set(got) == {"bob", "carol"}
    assert all((l[0].kind, l[0].name, l[0].text) == ("public", "alice", "hello") for l in got.values())


def test_private_message_reaches_only_its_target_and_echoes_to_sender():
    room = joined(make_room(), "alice", "bob", "carol")
    got = received(room.receive("alice", "/msg BOB psst"))
    assert set(got) == {"bob", "alice"}
    assert (got["bob"][0].kind, got["bob"][0].name, got["bob"][0].text) == ("private", "alice", "psst")
    assert (got["alice"][0].kind, got["alice"][0].name) == ("private-echo", "bob")


def test_private_message_to_nobody_is_an_error():
    room = joined(make_room(), "alice")
    assert received(room.receive("alice", "/msg zed hi"))["alice"][0].code == "no-such-user"


def test_private_messages_are_not_in_history():
    room = joined(make_room(), "alice", "bob")
    room.receive("alice", "/msg bob secret")
    assert not room.history


def test_list_help_and_unknown_command():
    room = joined(make_room(), "bob", "alice")
    assert received(room.receive("alice", "/list"))["alice"][0].text == "2 online: alice, bob"
    assert len(received(room.receive("alice", "/help"))["alice"]) == len(p.COMMANDS_HELP) + 1
    assert received(room.receive("alice", "/nope"))["alice"][0].code == "unknown-command"


def test_quit_says_bye_then_closes_with_the_reason():
    room = joined(make_room(), "alice", "bob")
    actions = room.receive("alice", "/quit gotta go")
    assert received(actions)["alice"][0].code == "bye"
    assert actions[-1] == Close("alice", "quit: gotta go")


def test_new_member_gets_recent_history_in_order_bracketed():
    room = joined(make_room(history=3), "alice")
    for i in range(5):
        room.receive("alice", f"m{i}")
    lines = received(room.join("bob", "bob").actions)["bob"]
    assert [l.code for l in lines if l.kind == "info"] == ["welcome", "history", "history-end"]
    assert [l.text for l in lines if l.kind == "public"] == ["m2", "m3", "m4"]


def test_no_history_block_when_nothing_was_said():
    lines = received(joined(make_room(), "alice").join("bob", "bob").actions)["bob"]
    assert [l.code for l in lines] == ["welcome"]


def test_leave_is_announced_exactly_once_with_the_reason():
    room = joined(make_room(), "alice", "bob")
    first = received(room.leave("bob", replies.REASON_RESET))
    assert [(l.name, l.code, p.reason_keyword(l.text)) for l in first["alice"]] == [("bob", "left", "reset")]
    assert room.leave("bob", replies.REASON_CLOSED) == []
    assert room.names() == ["alice"]


def test_leave_of_a_connection_that_never_joined_says_nothing():
    room = joined(make_room(), "alice")
    assert room.leave("stranger", replies.REASON_CLOSED) == []


def test_members_snapshot_is_a_new_tuple_on_each_change():
    room = joined(make_room(), "alice")
    before = room.members
    room.join("bob", "bob")
    assert before == ("alice",) and room.members == ("alice", "bob")


def test_names_freed_on_leave_can_be_reused():
    room = joined(make_room(), "alice")
    room.leave("alice", replies.REASON_CLOSED)
    assert room.join("other", "Alice").accepted


def test_the_room_emits_lines_with_their_sender_not_bytes():
    room = joined(make_room(), "alice", "bob")
    [public] = room.receive("alice", "hi")
    assert public.sender == "alice" and public.lines == (public.lines[0],) and isinstance(public.lines[0], str)
    private, echo = room.receive("alice", "/msg bob psst")
    assert private.sender == "alice" and echo.sender is None  # the echo is the server's own line
    [welcome] = room.join("carol", "carol").actions[:1]
    assert welcome.sender is None  # history lines are re-sent by the server, not by their author now


def test_a_bot_is_heard_but_kept_out_of_history():
    room = joined(make_room(), "alice", "loadbot")
    [reply] = room.receive("loadbot", "/bot")
    assert p.parse_server_line(reply.lines[0]).code == "bot" and room.is_bot("loadbot")
    assert received(room.receive("loadbot", "token 17"))["alice"][0].text == "token 17"  # still relayed
    room.receive("alice", "a human line")
    assert [p.parse_server_line(line).text for line in room.history] == ["a human line"]
    room.leave("loadbot", replies.REASON_CLOSED)
    assert not room.is_bot("loadbot")
    assert room.join("again", "loadbot").accepted and not room.is_bot("again")  # the mark is per connection


def test_shutdown_tells_everyone_once():
    room = joined(make_room(), "alice", "bob")
    [notice] = room.shutdown("the server is stopping")
    assert set(notice.recipients) == {"alice", "bob"}
    assert p.parse_server_line(notice.lines[0]).text == "the server is stopping; goodbye"
    assert make_room().shutdown() == []


def test_a_line_for_everyone_else_names_the_room_and_the_one_left_out_not_999_recipients():
    # The TCP server recognises a broadcast by its audience being the room's
    # own members tuple, so a chat line costs the room no loop over members.
    room = joined(make_room(), "alice", "bob", "carol")
    [say] = room.receive("alice", "hi")
    assert say.audience is room.members and say.excluded == "alice"
    assert say.recipients == ("bob", "carol")
    [welcome, notice] = room.join("dave", "dave").actions
    assert welcome.recipients == ("dave",) and welcome.audience is not room.members
    assert notice.audience is room.members and notice.recipients == ("alice", "bob", "carol")
    [left] = room.leave("bob", "quit")
    assert left.audience is room.members and left.excluded is None
    assert room.receive("alice", "alone?") and not joined(make_room(), "solo").receive("solo", "anyone?")


def test_the_names_stay_sorted_ignoring_case_through_joins_and_leaves():
    import random

    rng = random.Random(7)
    room, online = make_room(), set()
    pool = [f"{first}{n}" for first in ("Ann", "bob", "Cid", "dee", "Eve", "zed", "Zoe") for n in range(6)]
    for _ in range(400):  # bounded: a seeded walk of joins and leaves
        name = rng.choice(pool)
        if name in online:
            room.leave(name, "quit")
            online.discard(name)
        else:
            assert room.join(name, name).accepted
            online.add(name)
        assert room.names() == sorted(online, key=str.casefold)
