"""A classroom session: a server and three `chatlab client` processes in terminals."""

from __future__ import annotations

import io
import signal
import time

import pexpect
import pytest

from tests.helpers.chat import LineClient, spawn_client


def join_three(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    bob = spawn_client(server.port, "bob")
    children.append(bob)
    carol = spawn_client(server.port, "carol")
    children.append(carol)
    alice.expect_exact("carol joined")
    bob.expect_exact("carol joined")
    return alice, bob, carol


def assert_not_seen(child, text, wait=0.5):
    """Nothing containing ``text`` arrives at ``child`` within ``wait`` seconds."""
    try:
        child.expect_exact(text, timeout=wait)
    except pexpect.TIMEOUT:
        return
    raise AssertionError(f"{text!r} should not have arrived; got {child.before + child.after!r}")


def test_a_line_typed_in_one_client_appears_in_the_other_two_only(server, children):
    alice, bob, carol = join_three(server, children)
    alice.sendline("hello from alice")
    bob.expect_exact("<alice> hello from alice")
    carol.expect_exact("<alice> hello from alice")
    # the sender's own screen shows the line once, as typed - the server never echoes it back
    alice.expect_exact("<alice> hello from alice")
    assert_not_seen(alice, "<alice> hello from alice")


def test_private_message_reaches_only_its_target(server, children):
    alice, bob, carol = join_three(server, children)
    alice.sendline("/msg bob meet at noon")
    bob.expect_exact("*alice* meet at noon")
    alice.expect_exact("-> bob meet at noon")
    assert_not_seen(carol, "meet at noon")


def test_list_shows_everyone_online(server, children):
    alice, bob, carol = join_three(server, children)
    carol.sendline("/list")
    carol.expect_exact("3 online: alice, bob, carol")


def test_late_joiner_gets_history(server, children):
    alice, bob, carol = join_three(server, children)
    alice.sendline("first message")
    bob.expect_exact("<alice> first message")
    bob.sendline("second message")
    alice.expect_exact("<bob> second message")
    dave = spawn_client(server.port, "dave", wait_prompt=False)
    children.append(dave)
    dave.expect_exact("the last 2 messages before you joined")
    dave.expect_exact("<alice> first message")
    dave.expect_exact("<bob> second message")
    dave.expect_exact("end of history")


def test_ctrl_c_in_one_client_leaves_the_others_chatting(server, children):
    alice, bob, carol = join_three(server, children)
    carol.sendintr()  # Ctrl-C, delivered as SIGINT by the terminal
    carol.expect_exact("disconnected (Ctrl-C)")
    carol.expect(pexpect.EOF)
    carol.close()
    assert carol.exitstatus == 0, "Ctrl-C is how a user leaves: exit status 0"
    assert "Traceback" not in carol.before
    alice.expect_exact("carol left (closed: the client closed the connection, FIN)")
    bob.expect_exact("carol left")
    alice.sendline("still here?")
    bob.expect_exact("<alice> still here?")
    closed = server.wait_for(lambda e: e["kind"] == "closed" and e["name"] == "carol", what="carol's close")
    assert closed["how"] == "fin", f"the server saw carol leave by {closed['how']!r}, expected an orderly FIN"


def test_sigkill_with_unread_data_is_reported_as_reset(server, children):
    alice, bob, carol = join_three(server, children)
    raw = LineClient(server.port, "dave")
    alice.sendline("unread by dave")  # lands in dave's receive buffer; dave never reads it
    bob.expect_exact("<alice> unread by dave")
    time.sleep(0.2)
    # Closing a socket whose receive buffer holds unread data sends RST, not FIN.
    raw.sock.close()
    closed = server.wait_for(lambda e: e["kind"] == "closed" and e["name"] == "dave", what="dave's close")
    assert closed["how"] == "rst"
    alice.expect_exact("dave left (reset: the connection was reset, RST)")


def test_nc_style_raw_client_chats_with_chatlab_client(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    raw = LineClient(server.port, "netcat")
    alice.expect_exact("netcat joined")
    raw.send("hi from nc")
    alice.expect_exact("<netcat> hi from nc")
    alice.sendline("hi back")
    assert "hi back" in raw.expect(r"<alice> hi back")
    raw.close()


def test_name_taken_is_refused_and_the_client_may_try_again(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    other = spawn_client(server.port)
    children.append(other)
    other.expect_exact("Your name: ")
    other.sendline("ALICE")
    other.expect_exact("is online already")
    other.expect_exact("Your name: ")
    other.sendline("alice2")
    other.expect_exact("alice2> ")
    alice.expect_exact("alice2 joined")


def test_received_markup_and_escapes_are_shown_literally(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    raw = LineClient(server.port, "mallory")
    raw.send(b"[bold red]fake[/] \x1b[2J\x1b]0;title\x07done\n")
    alice.expect_exact("<mallory> [bold red]fake[/] done")
    assert "\x1b[2J" not in alice.before and "\x1b]0;" not in alice.before


def test_server_shutdown_tells_clients_and_exits_zero(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    status = server.stop(signal.SIGINT)
    assert status == 0, server.output()
    alice.expect_exact("the server is stopping; goodbye")
    alice.expect_exact("disconnected: the server is shutting down")
    alice.expect(pexpect.EOF)
    assert "Traceback" not in server.output()


def test_a_message_arriving_while_typing_does_not_garble_the_typed_line(server, children):
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    bob = spawn_client(server.port, "bob")
    children.append(bob)
    alice.expect_exact("bob joined")
    alice.send("half-typ")  # no Enter yet: the line is still being edited
    time.sleep(0.3)
    bob.sendline("interrupting you")
    alice.expect_exact("<bob> interrupting you")
    # the prompt and the half-typed text are drawn again below the message
    alice.expect_exact("alice> half-typ")
    alice.send("ed line\r")
    bob.expect_exact("<alice> half-typed line")


def _screen_after(child, screen) -> list[str]:
    """Everything the client wrote (its ``logfile_read``), through a terminal emulator: the rows on screen."""
    import pyte

    try:
        while True:
            child.read_nonblocking(65536, timeout=0.5)  # read the rest, into the log
    except (pexpect.TIMEOUT, pexpect.EOF):
        pass
    pyte.Stream(screen).feed(child.logfile_read.getvalue())
    return [row.rstrip() for row in screen.display]


@pytest.mark.parametrize("length", [45, 33], ids=["wraps", "fills-the-row-exactly"])
def test_a_typed_line_longer_than_the_terminal_is_redrawn_and_replaced_whole(server, children, length):
    # In a 40-column terminal, "alice> " + the typed text takes two rows (or
    # exactly one full row, where the cursor moves to the next row). A
    # message arriving mid-typing, then Enter, must leave no piece of the
    # typed line behind and erase nothing above it.
    import pyte

    alice = spawn_client(server.port, "alice", term="xterm-256color", width=40, wait_prompt=False)
    children.append(alice)
    alice.logfile_read = io.StringIO()  # every byte it writes, to replay on an emulated screen
    alice.expect_exact("alice> ")
    bob = spawn_client(server.port, "bob")
    children.append(bob)
    alice.expect_exact("bob")  # the join notice
    typed = "x" * (length - 1) + "Q"
    alice.send(typed)
    time.sleep(0.3)
    bob.sendline("interrupting you")
    alice.expect_exact("interrupting you")
    time.sleep(0.3)
    alice.send("\r")
    bob.expect_exact(f"<alice> {typed}")
    alice.expect_exact("alice> ")
    rows = _screen_after(alice, pyte.Screen(40, 50))
    assert not [row for row in rows if row.startswith("alice> x")], rows  # no stale piece of the typed line
    assert sum("<bob> interrupting you" in row for row in rows) == 1, rows  # shown once, not erased
    assert any("bob joined" in row for row in rows), rows
    assert "".join(rows).count("Q") == 1, rows  # alice's own line, once, in its rendered form
    assert rows[-1] == "" or rows[[i for i, row in enumerate(rows) if row][-1]] == "alice>", rows


def _rows_now(child, width=80, height=50) -> list[str]:
    """The emulated screen of everything ``child`` wrote so far (its ``logfile_read``)."""
    import pyte

    return _screen_after(child, pyte.Screen(width, height))


def test_joining_with_history_draws_the_prompt_after_the_history(server, children):
    # The welcome and the history arrive together; the prompt must come
    # below them, never in front of a history line ("carol> 19:21:28 --- the last ...").
    alice = spawn_client(server.port, "alice")
    children.append(alice)
    for i in range(6):
        alice.sendline(f"message {i}")
    bob = LineClient(server.port, "bob")
    bob.expect(r"<alice> message 5")  # all six are in the server's history now
    carol = spawn_client(server.port, "carol", term="xterm-256color", width=80, wait_prompt=False)
    children.append(carol)
    carol.logfile_read = io.StringIO()
    carol.expect_exact("end of history")
    carol.expect_exact("carol> ")
    rows = [row for row in _rows_now(carol) if row]
    assert not [row for row in rows if row.startswith("carol>") and row != "carol>"], rows
    assert rows[-1] == "carol>", rows  # the prompt is the last thing on the screen
    history = [i for i, row in enumerate(rows) if "<alice> message" in row]
    assert len(history) == 6 and history[-1] < len(rows) - 1, rows
    bob.close()


def test_a_disconnect_message_starts_on_its_own_row_below_the_half_typed_line(server, children):
    alice = spawn_client(server.port, "alice", term="xterm-256color", width=80, wait_prompt=False)
    children.append(alice)
    alice.logfile_read = io.StringIO()
    alice.expect_exact("alice> ")
    alice.send("half typed when the server dies")
    alice.expect_exact("half typed when the server dies")  # echoed by the terminal: readline has it
    assert server.stop(signal.SIGTERM) == 0
    alice.expect_exact("disconnected: the server is shutting down")
    alice.expect(pexpect.EOF)
    rows = [row for row in _rows_now(alice) if row]
    [ended] = [row for row in rows if "disconnected:" in row]
    assert ended.startswith("disconnected:"), rows  # not glued to the typed text
    typed = [row for row in rows if "half typed when the server dies" in row]
    assert typed and all("disconnected" not in row for row in typed), rows
