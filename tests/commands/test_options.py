"""Every numeric option of every `chatlab` subcommand rejects a bad value in one line.

The parsers are introspected (lab.cli.COMMANDS, then every sub-parser such as
`tls init` or `netlab up`), so an option added later is walked too, and an
option that takes a number without a type from lab/commands/options.py
fails here.  Out-of-range and non-numeric values go through ``lab.cli.main``
(in this process: it is argparse's job, and a traceback would fail the test
just the same); the cases of issue 18 run as real `chatlab` processes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import pytest

from lab.cli import COMMANDS, command_parser, main
from lab.commands import options


def _walk(argv: list[str], parser: argparse.ArgumentParser):
    """(argv prefix, parser) for a parser and all its sub-parsers."""
    yield argv, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk([*argv, name], sub)


def _options_with_a_value():
    """(argv prefix, option string, action) for every option that takes one value."""
    found = []
    for name in COMMANDS:
        _, parser = command_parser(name)
        for argv, sub in _walk([name], parser):
            for action in sub._actions:
                if action.option_strings and action.nargs is None and not isinstance(action, argparse._HelpAction):
                    found.append((argv, _long(action), action))
    return found


def _long(action: argparse.Action) -> str:
    return next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])


OPTIONS = _options_with_a_value()
TYPED = [(argv, opt, action) for argv, opt, action in OPTIONS if isinstance(action.type, options.Value)]


def _id(case) -> str:
    argv, opt, _ = case
    return " ".join([*argv, opt])


def _bad_values(kind: options.Value) -> list[str]:
    """Values the type must refuse: outside the range, not a number, not finite."""
    values = ["abc", "", "1x"]
    if isinstance(kind, options.TcRate):
        return values + ["1", "0mbit", "100tbit", "fast"]
    if isinstance(kind, options.ByteSize):
        values += ["12X", "-4K"]
    if isinstance(kind, options.Number):
        if kind.low is not None:
            values.append("0" if kind.low_open and kind.low == 0 else _step(kind, kind.low, -1))
        if kind.high is not None:
            values.append(_step(kind, kind.high, +1))
        values += ["1.5"] if kind.kind is int else ["nan", "inf", "-inf"]
    return values


def _step(kind: options.Number, bound: float, direction: int) -> str:
    if kind.kind is int:
        return str(int(bound) + direction)
    return repr(bound + direction * max(1.0, abs(bound) / 1000))


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_the_walk_finds_the_numeric_options_of_every_command():
    # If the introspection broke, every test below would pass on nothing.
    found = {_id(case) for case in TYPED}
    for expected in ("server --port", "server --sndbuf", "server --keepalive", "client --port", "sniff --port",
                     "sniff --duration", "load --clients", "load --rate", "compare --loss", "netlab up --loss",
                     "netlab up --rate", "tls init --days", "demo --width"):
        assert expected in found, f"the parser walk did not find {expected} (found: {sorted(found)})"
    commands = {argv[0] for argv, _, _ in TYPED}
    assert commands >= {"server", "client", "sniff", "load", "compare", "netlab", "tls", "demo"}, commands


@pytest.mark.parametrize("case", OPTIONS, ids=_id)
def test_an_option_that_takes_a_number_is_checked_by_lab_commands_options(case):
    argv, opt, action = case
    if isinstance(action.type, options.Value):
        return
    numeric_default = isinstance(action.default, (int, float)) and not isinstance(action.default, bool)
    assert action.type not in (int, float) and not numeric_default, (
        f"`chatlab {' '.join(argv)} {opt}` takes a number without a range check: use a type from "
        "lab/commands/options.py (type=int lets --port 70000 through to bind() or connect())")


@pytest.mark.parametrize("case", TYPED, ids=_id)
def test_a_value_out_of_range_or_not_a_number_gets_one_error_line_and_exit_2(case):
    argv, opt, action = case
    for value in _bad_values(action.type):
        code, out, err = _run_main([*argv, f"{opt}={value}"])
        where = f"`chatlab {' '.join(argv)} {opt}={value}`"
        assert code == 2, f"{where} exited {code}, expected 2 (argparse's usage error)\n{err}"
        assert "Traceback" not in err + out, f"{where} printed a traceback:\n{err}"
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], \
            f"{where}: expected usage then one error line, got:\n{err}"
        assert f"argument {'/'.join(action.option_strings)}:" in errors[0] or f"argument {opt}" in errors[0], errors[0]
        assert action.type.rule in errors[0], f"{where}: the error line does not say the valid range:\n{errors[0]}"


@pytest.mark.parametrize("case", TYPED, ids=_id)
def test_the_ends_of_the_range_and_the_default_are_accepted(case):
    argv, opt, action = case
    kind = action.type
    if action.default is not None:
        default = action.default if not isinstance(action.default, str) else kind(action.default)
        if isinstance(kind, options.Number):
            assert kind.accepts(default), f"`chatlab {' '.join(argv)} {opt}`: the default {default} is out of range"
    if isinstance(kind, options.Number):
        for bound in (kind.low, kind.high):
            if bound is not None and not (bound == kind.low and kind.low_open):
                text = str(int(bound)) if kind.kind is int else str(bound)
                assert kind(text) == bound, f"{_id(case)} refuses {text}, which its rule allows: {kind.rule}"


# --- the exact cases of issue 18 section 4, as real processes ---

ISSUE_CASES = [
    (["server", "--port", "70000"], "0-65535"),
    (["server", "--port", "-5"], "0-65535"),
    (["server", "--udp", "--port", "70000"], "0-65535"),
    (["client", "--port", "70000"], "1-65535"),  # used to wrap to 4464 and connect there
    (["client", "--port", "-1"], "1-65535"),  # used to say "cannot find the host"
    (["sniff", "--port", "70000"], "1-65535"),  # used to capture nothing, silently
    (["load", "127.0.0.1", "--clients", "many"], "1-50000"),
]


@pytest.mark.parametrize("argv,rule", ISSUE_CASES, ids=[" ".join(a) for a, _ in ISSUE_CASES])
def test_the_chatlab_process_refuses_the_value_before_touching_the_network(argv, rule):
    done = subprocess.run([sys.executable, "-m", "lab", *argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2, f"chatlab {' '.join(argv)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr
    assert done.stdout == "", f"it started anyway and printed: {done.stdout!r}"
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith(f"chatlab {argv[0]}: error: argument ") and rule in last, done.stderr


def test_byte_sizes_take_binary_suffixes():
    assert options.SOCKET_BUFFER("4096") == 4096
    assert options.SOCKET_BUFFER("4K") == options.SOCKET_BUFFER("4KiB") == options.SOCKET_BUFFER("4kb") == 4096
    assert options.SOCKET_BUFFER("1M") == 1024 * 1024


def test_tc_rates_keep_the_text_tc_reads():
    assert options.TC_RATE("1Mbit") == "1mbit"
    assert options.TC_RATE("2.5kbps") == "2.5kbps"


def test_messages_name_the_value_and_the_range():
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        options.LISTEN_PORT("70000")
    assert str(exc.value) == "70000 is out of range: a port is 0-65535 (0: any free port)"
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        options.seconds("a duration", 3600)("0")
    assert str(exc.value) == "0 is out of range: a duration is above 0, at most 3600 s"
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        options.PORT("1 2")
    assert str(exc.value) == "'1 2' is not a whole number: a port is 1-65535"
