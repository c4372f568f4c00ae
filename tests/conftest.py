"""Shared test set-up.

Privileged tests (packet capture, network namespaces) are marked
``@pytest.mark.privileged``.  On a student laptop without root they are
skipped with the reason; in CI (the ``CI`` environment variable is set, and
CI runs as root) a privileged test that cannot run is a *failure*, so a
missing install step can never hide behind a skip.
"""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests.helpers.privilege import privilege_problem


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a script (`make test-under-load &`,
    # nohup, cron) inherits SIGINT *ignored*: POSIX shells without job control
    # do that to their background commands, and an ignored signal stays
    # ignored across exec.  Every client a test starts would then shrug off
    # the Ctrl-C the test sends it.  A handler (not an ignore) is reset to the
    # default at exec, so the children get Ctrl-C back.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("privileged") is None:
        return
    problem = privilege_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"privileged test cannot run in CI: {problem}", pytrace=False)
    pytest.skip(f"needs privileges: {problem}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        choices=["exercises", "solutions"],
        default=None,
        help="which implementation the graded exercise tests grade "
        "(default: solutions/ when it exists, else exercises/)",
    )


@pytest.fixture
def start_server():
    """Start in-process chat servers on 127.0.0.1 (a free port); all stopped after the test.

    ``start_server(**limits)`` starts the reference server with those
    ServerConfig fields; ``start_server(naive=True, **options)`` the naive
    tutorial server (lab/tcp/naive_server.py) instead.
    """
    started = []

    def start(naive: bool = False, **options):
        if naive:
            from lab.tcp.naive_server import NaiveChatServer

            server = NaiveChatServer("127.0.0.1", 0, **options)
        else:
            from lab.lifecycle import EventLog
            from lab.tcp.server import ChatServer, ServerConfig

            server = ChatServer(ServerConfig(host="127.0.0.1", port=0, **options), log=EventLog(verbosity=0))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        with contextlib.suppress(Exception):
            server.stop()
