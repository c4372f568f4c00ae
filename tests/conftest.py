"""Shared test set-up.

Privileged tests (packet capture, network namespaces) are marked
``@pytest.mark.privileged``.  On a student laptop without root they are
skipped with the reason; in CI (the ``CI`` environment variable is set, and
CI runs as root) a privileged test that cannot run is a *failure*, so a
missing install step can never hide behind a skip.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers.privilege import privilege_problem


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
