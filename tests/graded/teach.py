"""Failure messages that teach, and bounded helpers for the graded tests.

A failing graded test should tell a student three things: what the test
did, step by step; what it expected (at the socket, on the wire); what it
saw.  ``Story`` collects the steps as the test goes, and its ``fail`` and
``check`` print them in that shape::

    ex01_echo.echo_client: FAILED
    What the test did:
      1. started a test echo server on 127.0.0.1:40123
      2. called echo_client("127.0.0.1", 40123, b'hello\\n')
    Expected: the 6 bytes b'hello\\n' back
    Saw:      b''
    Hint:     ...
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from types import ModuleType
from typing import Any, Callable

import pytest


def load(impl: str, module: str) -> ModuleType:
    """Import ``IMPL.MODULE`` (e.g. ``exercises.ex03_broadcast``), failing with a clear message."""
    name = f"{impl}.{module}"
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a syntax error in a student's file is a failure of its tests only
        pytest.fail(f"could not import {name}: {type(exc).__name__}: {exc}", pytrace=False)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"NotImplementedError: {exc} -- this part of the exercise is not written yet"
    if isinstance(exc, socket.timeout):
        return f"a timeout ({type(exc).__name__}: {exc}): something waited for data or a connection that never came"
    return f"{type(exc).__name__}: {exc}"


class Story:
    """The steps a test took, to explain a failure."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        """Record what the test is about to do."""
        self.steps.append(text)

    def message(self, expected: str, saw: str, hint: str | None = None) -> str:
        lines = [f"{self.title}: FAILED", "What the test did:"]
        lines += [f"  {n}. {text}" for n, text in enumerate(self.steps, 1)] or ["  (nothing yet)"]
        lines.append(f"Expected: {expected}")
        lines.append(f"Saw:      {saw}")
        if hint:
            lines.append(f"Hint:     {hint}")
        return "\n".join(lines)

    def fail(self, expected: str, saw: str, hint: str | None = None) -> None:
        pytest.fail(self.message(expected, saw, hint), pytrace=False)

    def check(self, ok: bool, expected: str, saw: Any, hint: str | None = None) -> None:
        """Fail with the story unless OK."""
        if not ok:
            self.fail(expected, saw if isinstance(saw, str) else repr(saw), hint)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, expected: str = "it to return", **kwargs: Any) -> Any:
        """Record and run ``fn(*args)``; an exception becomes a teaching failure."""
        self.step(f"called {what}")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = exc
        # outside the except block, so pytest does not print the chained traceback
        self.fail(expected, f"it raised {_describe(error)}")


class Background:
    """Run a function in a daemon thread; collect its result or exception."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._done = threading.Event()

        def target() -> None:
            try:
                self.result = fn(*args, **kwargs)
            except BaseException as exc:  # reported by the test, not by the thread
                self.error = exc
            finally:
                self._done.set()

        self.thread = threading.Thread(target=target, daemon=True, name=f"graded-{getattr(fn, '__name__', 'fn')}")
        self.thread.start()

    def wait(self, timeout: float) -> bool:
        """True if the function finished within TIMEOUT seconds."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def outcome(self) -> str:
        """A short description of how the function ended (or that it did not)."""
        if not self.done:
            return "it was still running (blocked)"
        if self.error is not None:
            return f"it raised {_describe(self.error)}"
        return f"it returned {self.result!r}"


def recv_until(sock: socket.socket, marker: bytes, timeout: float = 3.0, limit: int = 1 << 20) -> bytes:
    """Read from SOCK until MARKER has arrived, the peer closes, or TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data and len(data) < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket, timeout: float = 3.0, limit: int = 1 << 20) -> tuple[bytes, str]:
    """Read until the peer closes; return the bytes and how it ended: "fin", "rst" or "timeout"."""
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except ConnectionResetError:
            return data, "rst"
        if not chunk:
            return data, "fin"
        data += chunk
    return data, "timeout"


def tcp_pair(timeout: float = 3.0) -> tuple[socket.socket, socket.socket]:
    """A connected (client, server) pair of TCP sockets over 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=timeout)
        server, _ = listener.accept()
    server.settimeout(timeout)
    return client, server


def close_quietly(*socks: socket.socket | None) -> None:
    for sock in socks:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def accept_while(listener: socket.socket, job: Background, story: Story, timeout: float = 3.0) -> socket.socket:
    """Accept one connection from the code running in JOB; fail at once if JOB ends without connecting."""
    listener.settimeout(0.1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            if job.done:
                break
            continue
        conn.settimeout(timeout)
        return conn
    story.fail(f"a connection to the test server on port {listener.getsockname()[1]}", f"no connection: {job.outcome()}")
