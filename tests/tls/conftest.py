"""Fixtures for the TLS tests: lab certificate directories made once per
session with the real `init_lab_files`, and listening sockets on 127.0.0.1
that are always closed."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from lab.tls.certs import init_lab_files
from lab.tls.contexts import LabPaths


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> LabPaths:
    """A lab CA + server certificate for localhost (and this machine)."""
    paths, _names = init_lab_files(tmp_path_factory.mktemp("lab") / "tls")
    return paths


@pytest.fixture(scope="session")
def other_lab(tmp_path_factory) -> LabPaths:
    """A second, unrelated lab CA: the 'wrong CA' for verification tests."""
    paths, _names = init_lab_files(tmp_path_factory.mktemp("other") / "tls")
    return paths


@pytest.fixture(scope="session")
def expired_lab(tmp_path_factory) -> LabPaths:
    """Certificates made 'two years ago', valid for one day: expired now."""
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=730)
    paths, _names = init_lab_files(tmp_path_factory.mktemp("expired") / "tls", days=1, now=then)
    return paths


@pytest.fixture
def listener():
    """A listening TCP socket on 127.0.0.1 (ephemeral port), closed at the end."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(10)  # accept() in a test never waits forever
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def closer():
    """Register sockets to close at the end of the test, even if it fails."""
    socks: list[socket.socket] = []
    try:
        yield socks.append
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
