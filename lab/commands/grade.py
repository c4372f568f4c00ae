"""`chatlab grade`: run the graded exercise tests and print a score per exercise."""

from __future__ import annotations

import argparse

HELP = "grade the exercises and print a score per exercise"
DESCRIPTION = ("Run the graded tests of the exercises (all, or one) against your code in exercises/ and print "
               "the points per exercise and the total. Exit status 0 only when every test graded passed.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab grade`: which exercise, --impl, --json, --details."""
    parser.add_argument("exercise", nargs="?", help="grade only this exercise: ex03, 3 or ex03_broadcast")
    parser.add_argument("--impl", choices=["exercises", "solutions"], default="exercises",
                        help="the code to grade (default: %(default)s, your work)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (total, max, per exercise)")
    parser.add_argument("--details", action="store_true",
                        help="also print the message of every failed test (what it did, expected, saw)")


def run(args: argparse.Namespace) -> int:
    """Grade the exercises and print the points per exercise (a table, or --json).

    0 only when every graded test passed (and at least one ran), 1 when some
    failed, 2 when grading could not run (an unknown exercise, no tests).
    """
    import json
    import sys

    from lab.grading import GradingError, grade, kit_root, report, tests_of

    try:
        scores = grade(args.exercise, args.impl, kit_root())
    except GradingError as error:
        print(f"chatlab grade: {error}", file=sys.stderr)
        return 2
    result = report(scores, args.impl)
    all_passed = all(not s.failed for s in scores.values()) and any(s.passed for s in scores.values())
    if args.json:
        try:
            print(json.dumps(result, indent=2))
        except BrokenPipeError:  # `chatlab grade --json | head`
            pass
        return 0 if all_passed else 1

    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"chat-lab exercises, graded against {args.impl}/", title_justify="left")
    table.add_column("exercise")
    table.add_column("topic", no_wrap=True)
    table.add_column("tests", justify="right")
    table.add_column("points", justify="right")
    table.add_column("failed tests", overflow="fold")
    for key, score in scores.items():
        ran = len(score.passed) + len(score.failed)
        style = "green" if ran and not score.failed else ("red" if not score.passed else "yellow")
        tests = f"{len(score.passed)}/{ran}" + (f" (+{len(score.skipped)} skipped)" if score.skipped else "")
        if score.failed and not score.passed:
            failed = "all"
        else:
            failed = ", ".join(t.name.removeprefix("test_") for t in score.failed)
        table.add_row(key, score.exercise.title, tests, f"[{style}]{score.points:g} / {score.exercise.points}[/]", failed)
    table.add_section()
    table.add_row("total", "", "", f"[bold]{result['total']:g} / {result['max']}[/]", "")
    console.print(table)

    if args.details:
        for score in scores.values():
            for case in score.failed:
                console.rule(f"{score.exercise.key} {case.name}")
                console.print(case.message, markup=False)
    elif not all_passed:
        worst = next((s for s in scores.values() if s.failed), None)
        if worst is not None:
            console.print(f"To see what a failed test did, expected and saw: chatlab grade {worst.exercise.key} --details"
                          f"  (or: python -m pytest {tests_of(worst.exercise)} --impl {args.impl})", markup=False)
    skipped = sum(len(s.skipped) for s in scores.values())
    if skipped:
        console.print(f"{skipped} test(s) skipped (they need packet capture: run as root to include them); "
                      "skipped tests do not count.", markup=False)
    return 0 if all_passed else 1
