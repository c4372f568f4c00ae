"""Exercise 7: timestamps, private messages, the user list, history (see exercises/ex07_extensions.py)."""

from __future__ import annotations

import time

import pytest

from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]

# 2026-03-02 14:03:09 local time, whatever the time zone of the machine
NOON = time.mktime((2026, 3, 2, 14, 3, 9, 0, 0, -1))


def _room(ex, story: Story):
    story.step("made Room(clock=<always 14:03:09>)")
    return ex.Room(clock=lambda: NOON)


def _joined(story: Story, room, *names: str) -> None:
    for name in names:
        story.call(f"join({name!r})", room.join, name)


def _show(deliveries) -> str:
    return "\n" + "\n".join(f"    to {who}: {line}" for who, line in deliveries) if deliveries else "no deliveries"


def test_timestamp(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.timestamp")
    got = story.call("timestamp(<2026-03-02 14:03:09 local time>)", ex.timestamp, NOON)
    story.check(got == "14:03:09", "'14:03:09' (local time, HH:MM:SS)", got)
    got = story.call("timestamp(<that + 0.999 s>)", ex.timestamp, NOON + 0.999)
    story.check(got == "14:03:09", "'14:03:09' (fractions of a second cut, not rounded)", got)


def test_public_message_goes_to_the_others(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.Room.handle: public message")
    room = _room(ex, story)
    _joined(story, room, "alice", "bob", "carol")
    out = story.call("handle('alice', 'hi all')", room.handle, "alice", "hi all")
    story.check(sorted(out) == [("bob", "14:03:09 <alice> hi all"), ("carol", "14:03:09 <alice> hi all")],
                "'14:03:09 <alice> hi all' to bob and to carol, not to alice", _show(out))
    out = story.call("handle('bob', '//not a command')", room.handle, "bob", "//not a command")
    story.check(sorted(out) == [("alice", "14:03:09 <bob> /not a command"), ("carol", "14:03:09 <bob> /not a command")],
                "'14:03:09 <bob> /not a command' (// is a message starting with /)", _show(out))


def test_private_messages(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.Room.handle: /msg")
    room = _room(ex, story)
    _joined(story, room, "alice", "Bob", "carol")
    out = story.call("handle('alice', '/msg bob psst, the answer is listen()')", room.handle, "alice",
                     "/msg bob psst, the answer is listen()")
    wanted = [("Bob", "14:03:09 *alice* psst, the answer is listen()"), ("alice", "14:03:09 ->Bob psst, the answer is listen()")]
    story.check(sorted(out) == sorted(wanted), "to Bob '*alice* psst, ...', to alice '->Bob psst, ...', nothing to carol "
                "(names ignore case)", _show(out))
    out = story.call("handle('alice', '/msg zed hey')", room.handle, "alice", "/msg zed hey")
    story.check(out == [("alice", '14:03:09 !!! no-such-user: nobody called "zed" is online')],
                "only to alice: '!!! no-such-user: nobody called \"zed\" is online'", _show(out))
    out = story.call("handle('alice', '/msg Bob')", room.handle, "alice", "/msg Bob")
    story.check(out == [("alice", "14:03:09 !!! usage: /msg NAME TEXT")], "only to alice: '!!! usage: /msg NAME TEXT'", _show(out))
    out = story.call("handle('alice', '/dance')", room.handle, "alice", "/dance")
    story.check(out == [("alice", "14:03:09 !!! unknown-command: /dance (try /help)")],
                "only to alice: '!!! unknown-command: /dance (try /help)'", _show(out))


def test_user_list(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.Room: /list and leaving")
    room = _room(ex, story)
    _joined(story, room, "carol", "alice", "Bob")
    out = story.call("handle('alice', '/list')", room.handle, "alice", "/list")
    story.check(out == [("alice", "14:03:09 --- list: 3 online: alice, Bob, carol")],
                "only to alice: '--- list: 3 online: alice, Bob, carol' (sorted ignoring case)", _show(out))
    out = story.call("leave('carol', 'quit: bye')", room.leave, "carol", "quit: bye")
    story.check(sorted(out) == [("Bob", "14:03:09 *** carol left (quit: bye)"), ("alice", "14:03:09 *** carol left (quit: bye)")],
                "'*** carol left (quit: bye)' to alice and Bob", _show(out))
    out = story.call("handle('alice', '/list')", room.handle, "alice", "/list")
    story.check(out == [("alice", "14:03:09 --- list: 2 online: alice, Bob")], "'--- list: 2 online: alice, Bob'", _show(out))


def test_welcome_and_join_announcement(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.Room.join")
    room = _room(ex, story)
    out = story.call("join('bob')", room.join, "bob")
    story.check(out == [("bob", "14:03:09 --- welcome: you are bob; 1 online: bob")],
                "only the welcome, to bob (no history yet)", _show(out))
    out = story.call("join('alice')", room.join, "alice")
    wanted = [("alice", "14:03:09 --- welcome: you are alice; 2 online: alice, bob"), ("bob", "14:03:09 *** alice joined")]
    story.check(out == wanted, "the welcome to alice, then '*** alice joined' to bob", _show(out))


def test_history_for_new_members(impl):
    ex = load(impl, "ex07_extensions")
    story = Story("ex07_extensions.Room: history")
    now = [NOON]
    story.step("made Room(clock=<a clock the test moves>, history_size=3)")
    room = ex.Room(clock=lambda: now[0], history_size=3)
    _joined(story, room, "alice", "bob")
    for n in range(5):
        now[0] = NOON + n
        story.call(f"handle('alice', 'msg {n}') at 14:03:{9 + n:02}", room.handle, "alice", f"msg {n}")
    story.call("handle('alice', '/msg bob secret')", room.handle, "alice", "/msg bob secret")
    now[0] = NOON + 60
    out = story.call("join('carol') at 14:04:09", room.join, "carol")
    wanted = [
        ("carol", "14:04:09 --- welcome: you are carol; 3 online: alice, bob, carol"),
        ("carol", "14:04:09 --- history: the last 3 messages before you joined"),
        ("carol", "14:03:11 <alice> msg 2"),
        ("carol", "14:03:12 <alice> msg 3"),
        ("carol", "14:03:13 <alice> msg 4"),
        ("carol", "14:04:09 --- history-end: end of history"),
        ("alice", "14:04:09 *** carol joined"),
        ("bob", "14:04:09 *** carol joined"),
    ]
    story.check(out == wanted, "welcome, history block (the last 3 public lines with their own time, no private "
                "message), history-end, then the announcement:" + _show(wanted), _show(out))
