"""Every numeric command-line value of `chatlab`, checked in one place.

Each value here is an argparse ``type=``: argparse calls it with the text the
user typed, and it returns the number or raises ``ArgumentTypeError`` with
one line that names the valid range.  argparse then prints the usage and::

    chatlab server: error: argument --port/-p: 70000 is out of range: a port is 0-65535 (0: any free port)

and exits with status 2, before anything is bound, connected or captured.
Without this, ``--port 70000`` reached ``bind()`` (an OverflowError
traceback) or ``connect()`` (where the number silently wrapped to 4464).

Use the shared values (``LISTEN_PORT``, ``PORT``, ``PERCENT``...) where they
fit, and the factories (``whole``, ``seconds``...) for a range of one option.
tests/commands/test_options.py walks every subcommand's parser and tries
every option built from these types with values outside its range, so an
option added later is checked too; an option with a bare ``type=int`` fails
that test.
"""

from __future__ import annotations

import argparse
import math
import re

KIB, MIB, GIB = 1024, 1024**2, 1024**3
_BINARY_UNITS = {"": 1, "k": KIB, "m": MIB, "g": GIB}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


class Value:
    """The base of every option type here: ``what`` names the value in the
    error line ("a port"), ``rule`` is its valid range in words."""

    what: str = "a value"

    @property
    def rule(self) -> str:
        """The valid values in words ("a port is 1-65535"), the end of every error line."""
        raise NotImplementedError  # each subclass says its own range

    def fail(self, text: str, problem: str) -> argparse.ArgumentTypeError:
        """The error argparse prints after "argument --NAME: "."""
        return argparse.ArgumentTypeError(f"{_shown(text)} {problem}: {self.rule}")

    def __repr__(self) -> str:  # argparse shows it in its own "invalid ... value" messages
        return self.what


class Number(Value):
    """A whole number (``kind=int``) or a decimal one (``kind=float``) in
    ``[low, high]``; ``low_open`` makes the low end exclusive ("above 0").
    ``unit`` follows the range in the message, ``note`` explains a special
    value ("0: no limit")."""

    def __init__(self, what: str, kind: type = int, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, unit: str = "", note: str = ""):
        if kind not in (int, float):
            raise TypeError("a Number is an int or a float")
        self.what, self.kind, self.low, self.high = what, kind, low, high
        self.low_open, self.unit, self.note = low_open, unit, note

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise self.fail(text, "is not a whole number" if self.kind is int else "is not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(text, "is not a number")
        if not self.accepts(value):
            raise self.fail(text, "is out of range")
        return value

    def accepts(self, value: float) -> bool:
        """True if ``value`` is inside the range."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    @property
    def rule(self) -> str:
        """The range in words: "1-65535", "above 0, at most 60 s", "0 or more", with the note."""
        unit = f" {self.unit}" if self.unit else ""
        low, high = _plain(self.low), _plain(self.high)
        if self.low is not None and self.high is not None:
            span = f"above {low}, at most {high}{unit}" if self.low_open else f"{low}-{high}{unit}"
        elif self.low is not None:
            span = f"above {low}{unit}" if self.low_open else f"{low}{unit} or more"
        elif self.high is not None:
            span = f"at most {high}{unit}"
        else:
            span = "any whole number" if self.kind is int else "any number"
        return f"{self.what} is {span}" + (f" ({self.note})" if self.note else "")


class ByteSize(Number):
    """A size in bytes: ``4096``, or with a binary suffix: ``64K`` (65536),
    ``1M``, ``1G`` (also ``64KiB``, ``64kb``); K is 1024, as the kernel's
    buffer sizes are."""

    def __init__(self, what: str, low: int, high: int, *, note: str = ""):
        super().__init__(what, int, low, high, note=note)

    def __call__(self, text: str) -> int:
        match = _SIZE.match(text)
        if not match:
            raise self.fail(text, "is not a size in bytes")
        value = int(match.group(1)) * _BINARY_UNITS[match.group(2).lower()]
        if not self.accepts(value):
            raise self.fail(text, "is out of range")
        return value

    @property
    def rule(self) -> str:
        """The range in bytes, with the suffixes explained (K, M, G are powers of 1024)."""
        text = f"{self.what} is {_bytes(self.low)} to {_bytes(self.high)} (in bytes; K, M, G: 64K = 65536)"
        return text + (f"; {self.note}" if self.note else "")


class TcRate(Value):
    """A rate as tc(8) writes it, for a tbf qdisc: ``1mbit``, ``500kbit``,
    ``2mbps``.  The unit is required (a bare number means bits/s to tc, which
    nobody guesses).  At most tc's 32-bit limit of 4294967295 bytes/s."""

    what = "a rate"
    _UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
              "kibit": 2**10, "mibit": 2**20, "gibit": 2**30, "tibit": 2**40}
    _UNITS.update({name.replace("bit", "bps"): 8 * factor for name, factor in list(_UNITS.items())})
    _UNITS["bps"] = 8
    _TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)
    MAX_BITS = 4294967295 * 8

    def __call__(self, text: str) -> str:
        match = self._TEXT.match(text)
        if not match or match.group(2).lower() not in self._UNITS:
            raise self.fail(text, "is not a rate tc understands")
        bits = float(match.group(1)) * self._UNITS[match.group(2).lower()]
        if not 0 < bits <= self.MAX_BITS:
            raise self.fail(text, "is out of range")
        return f"{match.group(1)}{match.group(2).lower()}"

    @property
    def rule(self) -> str:
        """What tc accepts, in words: a number and a unit, at most tc's 32-bit limit."""
        return "a rate is a number and a tc unit: 1mbit, 500kbit (bits/s) or 100kbps (bytes/s), at most 34gbit"


def whole(what: str, low: int | None = None, high: int | None = None, *, unit: str = "", note: str = "") -> Number:
    """A whole number in ``[low, high]`` (a count, a size in lines...)."""
    return Number(what, int, low, high, unit=unit, note=note)


def decimal(what: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
            unit: str = "", note: str = "") -> Number:
    """A decimal number in ``[low, high]`` (or above ``low`` with ``low_open``)."""
    return Number(what, float, low, high, low_open=low_open, unit=unit, note=note)


def seconds(what: str = "a time", high: float = 86400, *, zero: str = "") -> Number:
    """A time in seconds, up to ``high``.  Above 0, unless ``zero`` says what 0 means ("until Ctrl-C")."""
    return decimal(what, 0, high, low_open=not zero, unit="s", note=f"0: {zero}" if zero else "")


def milliseconds(what: str, high: float) -> Number:
    """A time in milliseconds, 0 up to ``high``."""
    return decimal(what, 0, high, unit="ms")


def per_second(what: str, high: float, unit: str) -> Number:
    """A rate (``unit`` per second), above 0 and at most ``high``."""
    return decimal(what, 0, high, low_open=True, unit=unit)


def percent(kind: type = int) -> Number:
    """A percentage, 0-100 (whole, like nftables' ``numgen random mod 100``, or decimal)."""
    return Number("a percentage", kind, 0, 100)


#: A port to bind: 0 asks the kernel for any free (ephemeral) port.
LISTEN_PORT = whole("a port", 0, 65535, note="0: any free port")
#: A port to connect to or to filter on: port 0 cannot be connected to.
PORT = whole("a port", 1, 65535)
#: SO_SNDBUF / SO_RCVBUF.  Linux doubles the value (room for its own
#: bookkeeping) and clamps it to net.core.[rw]mem_max and to its minimum.
SOCKET_BUFFER = ByteSize("a socket buffer", 1, GIB)
#: Bytes queued in the kit's own buffers (a send queue, a backlog): 0 to 1 GiB.
QUEUE_BYTES = ByteSize("a send queue", 0, GIB)
#: A whole percentage 0-100.
PERCENT = percent(int)
#: A seed for a random generator: any whole number.
SEED = whole("a seed")
#: A tc/tbf rate such as 1mbit.
TC_RATE = TcRate()


def _shown(text: str) -> str:
    """The value as typed: bare when it is a plain token, quoted otherwise."""
    return text if re.fullmatch(r"[-+\w.]+", text or "") else repr(text)


def _plain(number: float | None) -> str:
    """1.0 -> '1', 0.5 -> '0.5', 1000000 -> '1000000' (never 1e+06)."""
    if number is None:
        return ""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _bytes(count: int) -> str:
    for suffix, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {suffix}"
    return f"{count} byte" + ("" if count == 1 else "s")
