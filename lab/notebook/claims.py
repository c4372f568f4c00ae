"""Claims that check themselves: what a lesson says about the wire, tested on the packets it just captured.

A lesson says "the SYN-ACK acknowledges the client's ISN + 1"; a visible
cell right after it checks that on the packets this run captured (or the
recording it replayed), one line per claim::

    nb.check(nb.wire_claims.handshake(cap.next_step()), source=cap)

    ✓ the SYN-ACK acknowledges the client's ISN + 1: ack 2698111935 = ISN
      2698111934 + 1

When the packets disagree, the cell prints the ✗ line and raises
:class:`ClaimFailed` (an AssertionError), so the notebook stops and the
notebook tests (CI) fail: a sentence that the kit's own capture proves
wrong cannot stay in a lesson.  A claim always needs its evidence: about
packets that are not there it fails ("no SYN-ACK in the capture"), it never
passes because there was nothing to look at.

Some claims compare the packets with something the notebook measured on
its sockets (when connect() returned, what a recv() gave).  In a recorded
run those measurements must come from the recorded run too:
:func:`measured` keeps them beside the recording (NAME.facts.json).
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from typing import Iterable, Union

from lab.notebook.settings import LESSON_DATA, RECORD_ENV

PASS, FAIL = "✓", "✗"
WIDTH = 78  # the self-check lines read well at 80 columns and on a projector


class ClaimFailed(AssertionError):
    """The packets (or the sockets) disagree with what the lesson says."""


@dataclass(frozen=True)
class Claim:
    """One statement of a lesson, whether this run's evidence supports it, and that evidence."""

    text: str
    holds: bool
    evidence: str

    def line(self) -> str:
        """The ✓ / ✗ line, wrapped to 78 columns with the continuation indented."""
        mark = PASS if self.holds else FAIL
        return textwrap.fill(f"{mark} {self.text}: {self.evidence}", WIDTH, subsequent_indent="  ",
                             break_on_hyphens=False)


Claims = Union[Claim, Iterable[Claim]]


def _flatten(items: tuple) -> list[Claim]:
    out: list[Claim] = []
    for item in items:
        if isinstance(item, Claim):
            out.append(item)
        else:
            out.extend(_flatten(tuple(item)))
    return out


def check(*claims: Claims, source=None) -> None:
    """Print one ✓ line per claim; raise ClaimFailed if any does not hold (after printing them all).

    ``source`` (a Capture, or a string) says which packets were looked at:
    this run's live capture or a recording.  Checking nothing is an error too.
    """
    found = _flatten(claims)
    where = getattr(source, "source", source)
    if where:
        print(f"Checked on the packets ({where}):")
    if not found:
        raise ClaimFailed("no claim was checked: a self-check cell must check something")
    for claim in found:
        print(claim.line())
    failed = [c for c in found if not c.holds]
    if failed:
        raise ClaimFailed("the wire disagrees with the lesson: " + "; ".join(f"{c.text} ({c.evidence})"
                                                                             for c in failed))


def measured(capture, key: str, value=None):
    """A measurement made on the sockets, for claims that compare it with the packets.

    Live (``capture.live``): returns ``value``, and when the lessons are
    being recorded (tools/record_lessons.py) also keeps it in
    lab/data/lessons/NAME.facts.json.  Replaying a recording: returns the
    value measured when that recording was made, so that it matches the
    replayed packets (this run's own value belongs to other packets).
    """
    name = capture.name
    if capture.live:
        directory = os.environ.get(RECORD_ENV)
        if directory:
            path = _facts_path(name, directory)
            facts = json.loads(path.read_text()) if path.exists() else {}
            facts[key] = value
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        return value
    path = _facts_path(name, LESSON_DATA)
    facts = json.loads(path.read_text()) if path.exists() else {}
    if key not in facts:
        raise ClaimFailed(f"the recording {name!r} has no measurement {key!r}: "
                          "re-record the lessons (tools/record_lessons.py)")
    return facts[key]


def _facts_path(name: str, directory):
    from pathlib import Path

    return Path(directory) / f"{name}.facts.json"
