"""The examples in the pure modules' docstrings run and give what they show (``make test`` runs this)."""

from __future__ import annotations

import doctest
import importlib

import pytest

PURE = ["lab.chat.wire", "lab.chat.room", "lab.chat.replies", "lab.chat.limits", "lab.chat.ratelimit",
        "lab.chat.client_core", "lab.udp.sequence", "lab.udp.datagrams", "lab.udp.server_core",
        "lab.udp.client_core", "lab.terminal"]


@pytest.mark.parametrize("name", PURE)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.attempted > 0, f"{name} has no examples in its docstrings"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} give something else"
