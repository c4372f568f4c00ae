from __future__ import annotations

import pytest

from tests.helpers.chat import ChatServerProcess


@pytest.fixture
def server(tmp_path):
    """A `chatlab server` process on a free port of 127.0.0.1, stopped afterwards."""
    proc = ChatServerProcess(tmp_path)
    yield proc
    proc.stop()


@pytest.fixture
def children():
    """Collects pexpect children and makes sure none outlives the test."""
    spawned = []
    yield spawned
    for child in spawned:
        if child.isalive():
            child.terminate(force=True)
