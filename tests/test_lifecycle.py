"""lab.lifecycle: the events' sentences, their rendering, the JSON lines and the subscribers."""

from __future__ import annotations

import io
import json
import threading

import pytest

from lab import lifecycle as ev


def render(event) -> str:
    return ev.EventLog.render(event).plain


def test_connected_says_connect_returns_after_one_round_trip_not_the_whole_handshake():
    text = ev.Connected(side="client", local=("127.0.0.1", 51234), server=("127.0.0.1", 5050),
                        connect_ms=0.21).sentence()
    assert "ephemeral port 51234" in text and "0.21 ms" in text
    assert "returns when the SYN-ACK arrives" in text and "one round trip" in text
    assert "the time of the three-way handshake" not in text  # the old, wrong claim


def test_closing_locally_names_when_close_sends_an_rst_instead_of_a_fin():
    text = ev.Closed(side="client", how="local", detail="Ctrl-C").sentence()
    assert "FIN" in text and "RST" in text and "unread" in text and "SO_LINGER 0" in text
    assert "last descriptor" in text
    assert text.count("close() sends a FIN") == 0 and text.count("Ctrl-C") == 1  # said once, not twice


@pytest.mark.parametrize("count, expected", [(0, "0 lines"), (1, "1 line,"), (2, "2 lines")])
def test_counts_agree_with_their_nouns(count, expected):
    text = ev.Closed(how="fin", lines_in=count, bytes_in=1).sentence()
    assert f"In: {expected}" in text and "1 byte;" in text
    assert "(1 line)" in ev.Data(nbytes=1, lines=1).sentence() and "1 byte" in ev.Data(nbytes=1, lines=1).sentence()


def test_every_ending_has_a_sentence():
    for how in ev.ENDINGS:
        assert ev.ENDINGS[how] in ev.Closed(how=how).sentence()
    assert "mystery" in ev.Closed(how="mystery").sentence()  # unknown keys are shown, not hidden


def test_closed_with_tcp_info_shows_the_kernel_counters():
    info = {"state": "CLOSE_WAIT", "rtt_ms": 0.05, "total_retrans": 2}
    text = ev.Closed(how="fin", tcp_info=info).sentence()
    assert "state CLOSE_WAIT" in text and "rtt 0.05 ms" in text and "2 retransmissions" in text


def test_addresses_are_shown_with_brackets_for_ipv6():
    assert ev.fmt_addr(("127.0.0.1", 5050)) == "127.0.0.1:5050"
    assert ev.fmt_addr(("::1", 5050, 0, 0)) == "[::1]:5050"


def test_a_rendered_line_has_the_time_the_side_the_kind_the_connection_and_the_name():
    line = render(ev.Closed(conn=7, name="alice", how="fin", time=0.0))
    assert line[8:].startswith(" server CLOSED     #7 alice: closed: FIN"), line
    named = render(ev.Named(conn=7, name="alice"))
    assert "alice: " not in named and "joined the chat as 'alice'" in named  # the name is not said twice


def test_markup_in_names_and_details_is_shown_literally():
    note = ev.EventLog.render(ev.Note(text="[bold red]not markup[/]"))
    closed = ev.EventLog.render(ev.Closed(name="[i]x[/i]", how="error", detail="[link]y[/link]"))
    assert "[bold red]not markup[/]" in note.plain
    assert "[i]x[/i]: " in closed.plain and "[link]y[/link]" in closed.plain


def test_json_lines_carry_every_field_and_the_kind():
    out = io.StringIO()
    log = ev.EventLog(verbosity=0, json_file=out)
    log.emit(ev.Accepted(conn=1, client=("127.0.0.1", 40000), server=("127.0.0.1", 5050)))
    log.emit(ev.Closed(conn=1, how="rst", lines_in=3))
    first, second = (json.loads(row) for row in out.getvalue().splitlines())
    assert first["kind"] == "accepted" and first["client"] == ["127.0.0.1", 40000] and first["side"] == "server"
    assert second["kind"] == "closed" and second["how"] == "rst" and second["lines_in"] == 3


def test_verbosity_decides_what_is_printed_not_what_is_kept():
    from rich.console import Console

    shown = io.StringIO()
    log = ev.EventLog(verbosity=1, console=Console(file=shown, width=200, highlight=False, markup=False))
    seen = []
    log.subscribe(seen.append)
    log.emit(ev.Data(nbytes=10, lines=1))  # level 2: not printed at verbosity 1
    log.emit(ev.Stopped(reason="test"))
    assert "recv() returned" not in shown.getvalue() and "server stopped: test" in shown.getvalue()
    assert [e.kind for e in seen] == ["data", "stopped"] and [e.kind for e in log.events] == ["data", "stopped"]
    assert [e.kind for e in log.of_kind("stopped")] == ["stopped"]


def test_the_log_is_safe_from_many_threads():
    out = io.StringIO()
    log = ev.EventLog(verbosity=0, json_file=out)
    threads = [threading.Thread(target=lambda: [log.emit(ev.Note(text="x")) for _ in range(200)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = out.getvalue().splitlines()
    assert len(rows) == 800 and all(json.loads(row)["kind"] == "note" for row in rows)
