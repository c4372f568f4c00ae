"""The accept loop survives what accept() and admitting a client can throw at it."""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from lab.tcp import server as server_module
from tests.helpers.chat import LineClient
from tests.helpers.waiting import wait_for


def notes(server) -> list[str]:
    return [event.text for event in server.log.of_kind("note")]


def fail_next_accepts(monkeypatch, listener, errors):
    """The next accept() calls on ``listener`` raise ``errors`` (in order), then accept() works again."""
    real_accept = socket.socket.accept
    pending = list(errors)
    raised = threading.Event()

    def accept(sock):
        if sock is listener and pending:
            error = pending.pop(0)
            if not pending:
                raised.set()
            raise error
        return real_accept(sock)

    monkeypatch.setattr(socket.socket, "accept", accept)
    return raised


@pytest.mark.parametrize("code", [errno.ECONNABORTED, errno.EMFILE, errno.EINVAL, errno.ENOTSOCK, errno.EIO],
                         ids=lambda code: errno.errorcode[code])
def test_an_accept_error_is_logged_and_the_next_client_is_served(start_server, monkeypatch, code):
    server = start_server()
    port = server.address[1]
    raised = fail_next_accepts(monkeypatch, server._listener, [OSError(code, "injected")])
    # The loop sits in the real accept(), called before the patch: alice's
    # connection wakes it, and its next accept() raises the injected error.
    first = LineClient(port, "alice")
    wait_for(raised.is_set, "the injected accept() error")
    second = LineClient(port, "bob")  # the old loop returned on EINVAL: bob would never get his hello
    first.expect(r"\*\*\* bob joined")
    name = errno.errorcode[code]
    assert any("accept() failed with" in text and name in text for text in notes(server)), notes(server)
    first.close()
    second.close()


def test_an_exception_that_is_not_an_oserror_does_not_stop_accepting(start_server, monkeypatch):
    server = start_server()
    raised = fail_next_accepts(monkeypatch, server._listener, [RuntimeError("a bug"), ValueError("another")])
    LineClient(server.address[1], "alice").close()
    wait_for(raised.is_set, "the injected exceptions")
    bob = LineClient(server.address[1], "bob")
    assert any("RuntimeError" in text for text in notes(server))
    bob.close()


def test_a_thread_that_cannot_start_costs_that_client_only(start_server, monkeypatch):
    server = start_server()
    real_start = server_module._thread.start_new_thread
    failed = []

    def start(function, args):  # the reader threads start this way (ReaderThreads)
        if not failed:
            failed.append(args)
            raise RuntimeError("can't start new thread")
        return real_start(function, args)

    monkeypatch.setattr(server_module._thread, "start_new_thread", start)
    unlucky = socket.create_connection(server.address, timeout=10)
    assert unlucky.recv(100) == b"", "the client that could not be admitted is closed, not left hanging"
    unlucky.close()
    alice = LineClient(server.address[1], "alice")  # the next one is served
    wait_for(lambda: any("could not admit" in text and "can't start new thread" in text for text in notes(server)),
               "the note about the failed admission")
    assert server.connection_count() == 1, "the failed connection is forgotten"
    alice.close()


def test_repeated_failures_are_logged_with_a_count_not_one_note_each():
    now = [0.0]
    trouble = server_module._AcceptTrouble(clock=lambda: now[0])
    error = OSError(errno.EMFILE, "Too many open files")
    pauses, logged = [], []
    for _ in range(10):
        pause, note = trouble.failed(error)
        pauses.append(pause)
        logged.append(note)
        now[0] += 0.1
    assert pauses == [server_module.RESOURCE_PAUSE_S] * 10
    assert logged[0] and "EMFILE" in logged[0] and logged[1:] == [None] * 9
    now[0] += 1.0
    _, note = trouble.failed(error)
    assert "9 more since the last note" in note


def test_an_unexpected_error_backs_off_up_to_one_second_and_resets_on_success():
    trouble = server_module._AcceptTrouble(clock=lambda: 0.0)
    pauses = [trouble.failed(OSError(errno.EINVAL, "x"))[0] for _ in range(8)]
    first, longest = server_module.UNEXPECTED_PAUSE_S
    assert pauses[0] == first and pauses[-1] == longest and pauses == sorted(pauses)
    trouble.succeeded()
    assert trouble.failed(OSError(errno.EINVAL, "x"))[0] == first
    assert trouble.failed(OSError(errno.ECONNABORTED, "x"))[0] == 0.0  # that client only: accept again at once


def test_the_documented_lists_do_not_overlap():
    assert not server_module.ACCEPT_PEER_GONE & server_module.ACCEPT_OUT_OF_RESOURCES
    assert errno.ECONNABORTED in server_module.ACCEPT_PEER_GONE and errno.EMFILE in server_module.ACCEPT_OUT_OF_RESOURCES


def test_reader_threads_are_counted_until_each_returns():
    readers = server_module.ReaderThreads()
    release = threading.Event()
    readers.start("client-1", release.wait, 10)
    readers.start("client-2", release.wait, 10)
    assert readers.running() == 2 and readers.names() == ["client-1", "client-2"]  # in start order
    assert readers.wait(0.05) is False  # both still blocked
    release.set()
    assert readers.wait(10) is True and readers.running() == 0 and readers.names() == []


def test_a_reader_that_raises_is_reported_and_still_counted_out(monkeypatch):
    import sys

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: reported.append(report.exc_value))
    readers = server_module.ReaderThreads()

    def broken():
        raise ValueError("a bug in a reader")

    readers.start("client-1", broken)
    assert readers.wait(10) is True
    wait_for(lambda: reported, "the traceback of the bug to be reported")
    assert isinstance(reported[0], ValueError)


def test_the_server_names_its_threads_one_reader_per_client(start_server):
    server = start_server()
    assert server.thread_names() == ["accept", "backlog-writer", "name-deadlines"]
    alice, bob = LineClient(server.address[1], "alice"), LineClient(server.address[1], "bob")
    wait_for(lambda: server.thread_names()[3:] == ["client-1", "client-2"], "a reader thread per client")
    alice.close()
    wait_for(lambda: server.thread_names()[3:] == ["client-2"], "alice's reader to end with her connection")
    bob.close()


def test_tcp_info_of_reads_the_named_members_own_socket(start_server):
    server = start_server()
    alice, bob = LineClient(server.address[1], "alice"), LineClient(server.address[1], "bob")
    try:
        alice.send("x" * 600)
        bob.expect("x" * 600)

        def received(name):
            info = server.tcp_info_of(name)
            return info.bytes_received if info else None

        # alice's socket has received her 600 bytes, bob's only his name
        wait_for(lambda: (received("alice") or 0) > (received("bob") or 0) + 500, "alice's bytes on alice's socket")
        assert server.tcp_info_of("alice").state == "ESTABLISHED"
        assert server.tcp_info_of("carol") is None
        alice.close()
        wait_for(lambda: server.tcp_info_of("alice") is None, "alice's socket to be gone with her")
    finally:
        alice.close()
        bob.close()
