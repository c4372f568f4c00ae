from __future__ import annotations

import contextlib

import pytest

from lab.lifecycle import EventLog
from lab.server import ChatServer, ServerConfig


@pytest.fixture
def start_server():
    """Start an in-process ChatServer on 127.0.0.1 with the given limits; stopped afterwards."""
    servers = []

    def start(**limits) -> ChatServer:
        server = ChatServer(ServerConfig(host="127.0.0.1", port=0, **limits), log=EventLog(verbosity=0))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()
