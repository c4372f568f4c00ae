"""Grading the exercises: run the graded tests, turn the results into points.

The points of each exercise are declared once, in ``EXERCISES``.  An
exercise's tests live in ``tests/graded/test_<module>.py``; its score is its
points times the share of its tests that passed.  Tests that were skipped
(a privileged wire check on a laptop without root) count neither for nor
against: the share is taken over the tests that ran.

``grade`` runs pytest in a child process (so a student's code that hangs or
crashes cannot take the grader down) with ``--junitxml``, and reads the
report back.  Everything here except ``run_pytest`` is plain data in, data
out, and is tested on hand-made XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: what the student types (``key``), its module, its title and its points."""

    key: str  # "ex03": what the student types
    module: str  # "ex03_broadcast": exercises/<module>.py and tests/graded/test_<module>.py
    title: str
    points: int


#: The exercises, in order, with their points (the one place points are declared).
EXERCISES: tuple[Exercise, ...] = (
    Exercise("ex01", "ex01_echo", "TCP echo server and client", 10),
    Exercise("ex02", "ex02_framing", "framing a byte stream into lines", 10),
    Exercise("ex03", "ex03_broadcast", "threaded broadcast server", 15),
    Exercise("ex04", "ex04_client", "two-thread client", 10),
    Exercise("ex05", "ex05_closing", "closing: FIN, RST, clean Ctrl-C", 10),
    Exercise("ex06", "ex06_udp", "UDP chat: datagrams and loss", 15),
    Exercise("ex07", "ex07_extensions", "timestamps, /msg, /list, history", 10),
    Exercise("ex08", "ex08_tls", "TLS: wrapping and verifying", 10),
    Exercise("ex09", "ex09_wire", "reading the wire: pcap annotation", 10),
    Exercise("ex10", "ex10_rtt", "RTT samples, Karn's rule, RFC 6298's RTO, goodput", 10),
    Exercise("ex11", "ex11_handcraft", "TCP by hand with scapy: the next packet, a whole connection", 10),
    Exercise("ex12", "ex12_reliable", "reliable transfer over UDP", 15),
)

IMPLS = ("exercises", "solutions")


class GradingError(Exception):
    """Something a user can fix (unknown exercise, no tests found); one line."""


def find_exercise(name: str) -> Exercise:
    """The exercise called NAME: "ex03", "3", "03" or "ex03_broadcast"."""
    wanted = name.strip().lower()
    if wanted.isdigit():
        wanted = f"ex{int(wanted):02d}"
    for exercise in EXERCISES:
        if wanted in (exercise.key, exercise.module):
            return exercise
    known = ", ".join(e.key for e in EXERCISES)
    raise GradingError(f"no exercise called {name!r}; the exercises are {known}")


def tests_of(exercise: Exercise) -> str:
    """The graded test file of EXERCISE, relative to the kit's root."""
    return f"tests/graded/test_{exercise.module}.py"


def kit_root(start: Path | None = None) -> Path:
    """The root of the kit: the current directory (or a parent) with tests/graded, else lab's parent."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "tests" / "graded").is_dir() and (candidate / "lab").is_dir():
            return candidate
    return Path(__file__).resolve().parent.parent


@dataclass
class CaseOutcome:
    """One graded test's result: its name, passed/failed/skipped, and the failure message."""

    name: str  # the test function's name
    outcome: str  # "passed", "failed", "skipped"
    message: str = ""  # the failure (or skip) message


@dataclass
class ExerciseScore:
    """The results of one exercise's tests, and the points they are worth."""

    exercise: Exercise
    tests: list[CaseOutcome] = field(default_factory=list)

    @property
    def passed(self) -> list[CaseOutcome]:
        """The tests that passed."""
        return [t for t in self.tests if t.outcome == "passed"]

    @property
    def failed(self) -> list[CaseOutcome]:
        """The tests that failed."""
        return [t for t in self.tests if t.outcome == "failed"]

    @property
    def skipped(self) -> list[CaseOutcome]:
        """The tests that were skipped (they neither add nor cost points)."""
        return [t for t in self.tests if t.outcome == "skipped"]

    @property
    def points(self) -> float:
        """The exercise's points times the share of tests that ran and passed, to one decimal."""
        ran = len(self.passed) + len(self.failed)
        if ran == 0:
            return 0.0
        return round(self.exercise.points * len(self.passed) / ran, 1)

    def to_dict(self) -> dict:
        """The score as `chatlab grade --json` prints it."""
        return {
            "title": self.exercise.title,
            "points": self.points,
            "max": self.exercise.points,
            "passed": len(self.passed),
            "tests": len(self.passed) + len(self.failed),
            "failed": [t.name for t in self.failed],
            "skipped": [t.name for t in self.skipped],
        }


def parse_junit(xml_text: str, exercises: tuple[Exercise, ...] = EXERCISES) -> dict[str, ExerciseScore]:
    """Sort the test cases of a pytest junit XML report by exercise."""
    by_module = {f"test_{e.module}": ExerciseScore(e) for e in exercises}
    root = ET.fromstring(xml_text)
    for case in root.iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        score = by_module.get(module)
        if score is None:
            continue
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            text = (problem.text or problem.get("message") or "").strip()
            score.tests.append(CaseOutcome(case.get("name", "?"), "failed", text))
        elif skipped is not None:
            score.tests.append(CaseOutcome(case.get("name", "?"), "skipped", skipped.get("message", "")))
        else:
            score.tests.append(CaseOutcome(case.get("name", "?"), "passed"))
    return {score.exercise.key: score for score in by_module.values()}


def report(scores: dict[str, ExerciseScore], impl: str) -> dict:
    """The JSON-ready report: total, max, and one entry per exercise."""
    return {
        "impl": impl,
        "total": round(sum(s.points for s in scores.values()), 1),
        "max": sum(s.exercise.points for s in scores.values()),
        "exercises": {key: score.to_dict() for key, score in scores.items()},
    }


def run_pytest(exercises: tuple[Exercise, ...], impl: str, root: Path, timeout: float = 600) -> str:
    """Run the graded tests of EXERCISES against IMPL in a child pytest; return the junit XML."""
    if impl not in IMPLS:
        raise GradingError(f"--impl must be one of {', '.join(IMPLS)}, not {impl!r}")
    if not (root / impl).is_dir():
        raise GradingError(f"there is no {impl}/ directory in {root}")
    files = [tests_of(e) for e in exercises]
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise GradingError(f"graded tests not found: {', '.join(missing)} (run chatlab grade from the kit's directory)")
    with tempfile.TemporaryDirectory(prefix="chatlab-grade-") as tmp:
        xml_path = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", *files, f"--impl={impl}", f"--junitxml={xml_path}",
                   "-q", "--no-header", "-p", "no:cacheprovider", "-o", "junit_family=xunit1"]
        try:
            subprocess.run(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False)
        except subprocess.TimeoutExpired as exc:
            raise GradingError(f"the graded tests took more than {timeout:.0f} s and were stopped") from exc
        if not xml_path.exists():
            raise GradingError("pytest did not produce a report (is pytest installed in this environment?)")
        return xml_path.read_text(encoding="utf-8")


def grade(exercise: str | None = None, impl: str = "exercises", root: Path | None = None) -> dict[str, ExerciseScore]:
    """Run the graded tests (all, or one EXERCISE) against IMPL; return the scores."""
    chosen = (find_exercise(exercise),) if exercise else EXERCISES
    xml_text = run_pytest(chosen, impl, root or kit_root())
    return parse_junit(xml_text, chosen)
