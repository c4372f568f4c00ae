"""lab/craft's sans-I/O modules: their doctests, no I/O imports, and the capture they are tested on read as tshark reads it."""

from __future__ import annotations

import ast
import csv
import doctest
import importlib

import pytest

from lab.capture import read_pcap
from tests.craft.recorded import CAPTURE, ROOT

PURE = ["lab.craft.tcb", "lab.craft.forge", "lab.craft.guard", "lab.craft.counters"]


@pytest.mark.parametrize("name", PURE)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", PURE + ["lab.craft.diagnose"])
def test_sans_io_modules_import_no_socket_or_scapy(name):
    path = ROOT / (name.replace(".", "/") + ".py")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"socket", "scapy", "subprocess", "threading", "select"}, imported


def test_the_kit_reads_the_capture_as_tshark_does():
    rows = list(csv.DictReader((CAPTURE.parent / "chat.tshark.tsv").open(), delimiter="\t"))
    segments = read_pcap(CAPTURE)
    assert len(rows) == len(segments)
    for row, seg in zip(rows, segments):
        assert (seg.seq, seg.ack, seg.length, seg.flags) == (int(row["tcp.seq_raw"]), int(row["tcp.ack_raw"]),
                                                            int(row["tcp.len"]), int(row["tcp.flags"], 16))
