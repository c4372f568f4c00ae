"""How a long-running `chatlab` command runs until it is told to stop.

Every command that runs until the user stops it (the servers, live capture)
stops the same way: Ctrl-C (SIGINT) and SIGTERM (``kill``, systemd, a test)
*ask* it to stop, the main thread leaves its wait, stops what it started,
and the command exits 0.  One way, written once:

* the handlers are installed explicitly, because a shell starts background
  jobs (``chatlab server &``) with SIGINT ignored;
* they are installed *before* the server starts: a signal that arrives
  while it starts (it already binds, logs, spawns threads) must stop it
  cleanly too, not raise KeyboardInterrupt half-way through ``start()``;
* a handler only sets an event, so no exception ever lands in the middle of
  the code that is running when the signal arrives;
* the previous handlers come back afterwards (the tests call commands in
  their own process).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator, Protocol

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Startable(Protocol):
    """What ``run_until_signal`` runs: a server with ``start()`` and ``stop()``."""

    def start(self) -> object:
        """Start serving in the background and return once ready."""

    def stop(self) -> object:
        """Stop serving and release everything (sockets, threads)."""


def catch_stop_signals() -> tuple[threading.Event, Callable[[], None]]:
    """From now on SIGINT and SIGTERM set the event instead of interrupting; call ``restore()`` after.

    Returns ``(event, restore)``.  Outside the main thread (where Python
    cannot install signal handlers) nothing is installed and the event is
    only set by the caller.  ``stop_requested()`` is the same as a ``with``.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return event, lambda: None
    previous = {sig: signal.signal(sig, lambda *_: event.set()) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return event, restore


@contextlib.contextmanager
def stop_requested() -> Iterator[threading.Event]:
    """While inside, SIGINT and SIGTERM set the event this yields instead of interrupting."""
    event, restore = catch_stop_signals()
    try:
        yield event
    finally:
        restore()


def run_until_signal(server: Startable, announce: Callable[[], None] | None = None) -> None:
    """Start ``server``, ``announce()`` it, serve until SIGINT or SIGTERM, then ``server.stop()``.

    An exception from ``start()`` propagates (the caller words it for the
    user); ``stop()`` runs whenever ``start()`` returned, even if
    ``announce`` fails.
    """
    with stop_requested() as stop:
        server.start()
        try:
            if announce is not None:
                announce()
            while not stop.wait(1.0):  # the handler's set() wakes this wait at once
                pass
        finally:
            server.stop()
