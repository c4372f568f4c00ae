"""The TCP client's core with plain bytes: greeting, names, history, endings, TLS ports."""

from __future__ import annotations

from lab.chat import replies
from lab.chat import wire as p
from lab.chat.client_core import (GREETING, JOINED, NAMING, ClientCore, Ended, Joined, LineView, NameWanted, Refused,
                                  Show, is_quit)

WHERE = "10.0.0.5:5050"


def greeted(name="alice"):
    core = ClientCore(WHERE)
    assert core.receive(p.encode(replies.hello(0))) == [NameWanted("")]
    core.name_line(name)
    return core


def joined(name="alice", history=()):
    core = greeted(name)
    lines = [replies.welcome(0, name, [name])]
    if history:
        lines += [replies.history_start(0, len(history)), *history, replies.history_end(0)]
    events = core.receive(p.encode_lines(lines))
    assert Joined(name) in events
    return core, events


def test_the_greeting_asks_for_a_name_and_the_welcome_joins():
    core = greeted()
    assert core.state == NAMING
    events = core.receive(p.encode(replies.welcome(0, "alice", ["alice"])))
    assert [type(e) for e in events] == [Show, Joined] and core.state == JOINED and core.name == "alice"


def test_a_refused_name_asks_again_with_the_reason():
    core = greeted("ALICE")
    [event] = core.receive(p.encode(replies.name_taken(0, "alice")))
    assert isinstance(event, NameWanted) and "online already" in event.problem
    core.name_line("alice2")
    assert Joined("alice2") in core.receive(p.encode(replies.welcome(0, "alice2", ["alice", "alice2"])))


def test_bytes_split_anywhere_give_the_same_events():
    data = p.encode_lines([replies.hello(0)])
    core = ClientCore(WHERE)
    events = []
    for i in range(len(data)):
        events += core.receive(data[i:i + 1])
    assert events == [NameWanted("")]


def test_history_lines_are_marked_and_the_brackets_are_not():
    core, events = joined(history=[p.format_public(0, "bob", "one"), p.format_public(0, "bob", "two")])
    shows = [e for e in events if isinstance(e, Show)]
    assert [(e.parsed.code or e.parsed.text, e.in_history) for e in shows] == [
        ("welcome", False), ("history", False), ("one", True), ("two", True), ("history-end", False)]
    assert not core.in_history


def test_the_history_block_can_arrive_in_pieces():
    core = greeted()
    core.receive(p.encode_lines([replies.welcome(0, "alice", ["alice"]), replies.history_start(0, 1)]))
    assert core.state == JOINED and core.in_history  # the client waits for the end before its prompt
    core.receive(p.encode_lines([p.format_public(0, "bob", "one"), replies.history_end(0)]))
    assert not core.in_history


def test_server_lines_are_cleaned_before_they_are_shown():
    core, _ = joined()
    [show] = core.receive(b"12:00:00 <mallory> \x1b[2J\x1b]0;pwned\x07hi\r\n")
    assert show.line == "12:00:00 <mallory> hi" and show.parsed.text == "hi"


def test_how_the_connection_ended():
    core, _ = joined()
    assert core.connection_closed() == Ended("fin", "the server closed the connection")
    core, _ = joined()
    core.receive(p.encode(replies.shutdown(0)))
    assert core.connection_closed() == Ended("fin", "the server is shutting down")
    core, _ = joined()
    assert core.connection_reset() == Ended("rst", "the connection was reset (RST)")


def test_refusals_before_joining_are_one_line_each():
    cases = {
        b"SSH-2.0-OpenSSH_9.2\r\n": "does not look like a chat-lab server",
        p.encode(replies.server_full(0, 1500)): "maximum of 1500 clients",
        p.encode(replies.bye(0)): "unexpected first line",
    }
    for data, expected in cases.items():
        [event] = ClientCore(WHERE).receive(data)
        assert isinstance(event, Refused) and expected in event.message, (data, event)
    assert isinstance(ClientCore(WHERE).connection_closed(), Refused)


def test_a_tls_port_is_recognised_by_its_plain_text_answer_or_a_tls_alert():
    # the kit's TLS server answers plain text with !!! tls-required; another TLS server with an alert record
    for answer in (p.encode(replies.tls_required(0)), b"\x15\x03\x03\x00\x02\x02\x46"):
        core = ClientCore(WHERE)
        assert core.silence_probe().strip(b"\r\n") == b""  # empty lines: a chat server ignores them
        [event] = core.receive(answer)
        assert event == Refused(f"{WHERE} speaks TLS: add --tls (and --cafile with the lab's ca.pem)"), answer


def test_a_server_that_closes_in_silence_after_the_probe_gets_the_tls_hint():
    core = ClientCore(WHERE)
    core.silence_probe()
    assert "add --tls" in core.connection_reset().message
    assert "add --tls" not in ClientCore(WHERE).connection_reset().message  # no probe, no guess


def test_own_message_and_quit():
    assert p.own_message(0, "alice", "//shrug")[9:] == "<alice> /shrug"
    assert p.own_message(0, "alice", "/msg bob hi") is None
    assert is_quit("/BYE see you") and is_quit(" /quit") and not is_quit("quit") and not is_quit("")


def test_the_line_view_is_shared_by_both_clients():
    view = LineView()
    assert not view.show(replies.history_start(0, 1)).in_history
    assert view.show(p.format_public(0, "bob", "x")).in_history
    view.show(replies.shutdown(0))
    assert view.goodbye == "the server is shutting down"


def test_states():
    assert ClientCore(WHERE).state == GREETING
