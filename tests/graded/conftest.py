"""Set-up of the graded tests: which implementation they grade.

``--impl`` (declared in tests/conftest.py) selects the package under test:
``exercises`` (your code) or ``solutions`` (the reference answers).  Without
it: ``solutions`` when that directory exists (the instructor's kit), else
``exercises`` (the student release has no solutions/).

Each test imports its exercise module *inside* the test (``load(impl,
"ex03_broadcast")``), so an unfinished exercise fails its own tests and
never breaks the collection of the others.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def default_impl(root: Path = ROOT) -> str:
    """The implementation graded when ``--impl`` is not given."""
    return "solutions" if (root / "solutions").is_dir() else "exercises"


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> str:
    """The package under test: "exercises" or "solutions"."""
    return request.config.getoption("--impl") or default_impl()


@pytest.fixture(autouse=True)
def _bounded_sockets():
    """Give every socket made without a timeout one of 5 s.

    A skeleton (or a buggy answer) that blocks in accept() or recv() then
    fails with a timeout instead of hanging the whole run.
    """
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(5.0)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)

