"""Count the work a student's code does, instead of timing it.

A timing test fails on a busy machine and passes on a fast one; a count of
steps does neither.  ``WorkMeter`` counts two kinds of step while a student's
function runs:

- **Python lines** executed in the student's module (``sys.settrace``): a
  loop over bytes written in Python costs a few lines per byte;
- **bytes examined** by the bytes and bytearray methods the student calls:
  ``find`` from ``start`` to the end of its range, ``in``, ``split``,
  slicing (the bytes copied), ``+`` (the bytes copied), iteration, ...
  These run in C, invisible to ``settrace``; the meter sees them because the
  test feeds ``CountingBytes`` (a ``bytes`` subclass that charges the meter)
  and, while it watches, the module's names ``bytes`` and ``bytearray`` are
  the counting types, so buffers the student makes count too.  Results of
  counting objects (slices, concatenations, split pieces) are counting
  objects again.

What it cannot see: C code that reads a buffer without calling one of its
methods (``re``, ``memoryview``, ``bytes.join`` of a list).  A quadratic
answer built on those escapes the count; the usual ones (``find``/``in``/
``split`` on the whole buffer, ``buffer += data`` on ``bytes``, a Python loop
from index 0) do not.

The meter stops a run early: once the work passes ``limit``, the next step
raises ``OverBudget`` (a ``BaseException``, so a student's ``except
Exception`` cannot swallow it), and a quadratic answer is caught after a few
hundred bytes instead of running for minutes.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator


class OverBudget(BaseException):
    """The measured code did more work than its budget allows."""


class WorkMeter:
    """Python lines executed in the code under test, plus bytes examined by counting buffers.

    The code under test is the modules that define FUNCTIONS (a student's
    class keeps its methods in its exercise module): lines executed in
    their files count, and their globals ``bytes``/``bytearray`` are
    replaced by the counting types while ``watching``.
    """

    def __init__(self, *functions: Callable) -> None:
        self.namespaces = list({id(f.__globals__): f.__globals__ for f in map(_unwrap, functions)}.values())
        self._filenames = {f.__code__.co_filename for f in map(_unwrap, functions)}
        self.lines = 0
        self.examined = 0
        self.limit: int | None = None  # raise OverBudget once total passes this

    @property
    def total(self) -> int:
        return self.lines + self.examined

    def charge(self, count: int) -> None:
        self.examined += count
        if self.limit is not None and self.total > self.limit:
            raise OverBudget(self.total)

    def _trace_lines(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.limit is not None and self.total > self.limit:
                raise OverBudget(self.total)
        return self._trace_lines

    def _trace_calls(self, frame, event, arg):
        if frame.f_code.co_filename in self._filenames:
            return self._trace_lines
        return None

    @contextlib.contextmanager
    def watching(self) -> Iterator["WorkMeter"]:
        """Count while the block runs (in this thread)."""
        global _ACTIVE
        saved = [(namespace, name, namespace.get(name, _MISSING))
                 for namespace in self.namespaces for name in ("bytes", "bytearray")]
        for namespace in self.namespaces:
            namespace["bytes"], namespace["bytearray"] = CountingBytes, CountingBytearray
        previous_trace = sys.gettrace()
        _ACTIVE = self
        sys.settrace(self._trace_calls)
        try:
            yield self
        finally:
            sys.settrace(previous_trace)
            _ACTIVE = None
            for namespace, name, value in saved:
                if value is _MISSING:
                    namespace.pop(name, None)
                else:
                    namespace[name] = value


def _unwrap(function: Callable) -> Callable:
    """The plain function behind a method, property getter or staticmethod."""
    function = getattr(function, "fget", function)
    return getattr(function, "__func__", function)


_MISSING = object()
_ACTIVE: WorkMeter | None = None


def _charge(count: int) -> None:
    if _ACTIVE is not None:
        _ACTIVE.charge(count)


def _counting(value: Any) -> Any:
    """VALUE with every bytes or bytearray in it turned into its counting type (not charged)."""
    if isinstance(value, (CountingBytes, CountingBytearray)):
        return value
    if isinstance(value, bytes):
        return bytes.__new__(CountingBytes, value)
    if isinstance(value, bytearray):
        copy = bytearray.__new__(CountingBytearray)
        bytearray.__init__(copy, value)
        return copy
    if isinstance(value, (list, tuple)):
        return type(value)(_counting(item) for item in value)
    return value


def _range(length: int, args: tuple) -> int:
    """How many bytes find(sub, start, end) and its kind look at, at most."""
    start = args[1] if len(args) > 1 else None
    end = args[2] if len(args) > 2 else None
    first, last, _ = slice(start, end).indices(length)
    return max(0, last - first)


# method name -> cost in bytes examined, given (self, args)
_SEARCH = ("find", "index", "rfind", "rindex", "count")
_WHOLE = ("split", "rsplit", "splitlines", "partition", "rpartition", "replace", "strip", "lstrip", "rstrip",
          "decode", "translate", "lower", "upper", "hex", "removeprefix", "removesuffix", "expandtabs",
          "isascii", "isalnum", "isalpha", "isdigit", "isspace", "islower", "isupper", "copy")


def _costed(base: type, name: str):
    method = getattr(base, name)

    if name in _SEARCH:
        def counted(self, *args):
            _charge(_range(len(self), args))
            return _counting(method(self, *args))
    elif name in ("startswith", "endswith"):
        def counted(self, *args):
            prefix = args[0] if args else b""
            _charge(max((len(p) for p in prefix), default=0) if isinstance(prefix, tuple) else len(prefix))
            return method(self, *args)
    else:
        def counted(self, *args, **kwargs):
            _charge(len(self))
            return _counting(method(self, *args, **kwargs))
    counted.__name__ = name
    return counted


def _add_counting_methods(cls: type, base: type) -> None:
    for name in (*_SEARCH, *_WHOLE, "startswith", "endswith"):
        if hasattr(base, name):
            setattr(cls, name, _costed(base, name))


class _Charging:
    """What both counting types charge for: indexing and slicing, iteration, ``in``, ``+``."""

    __slots__ = ()

    def __getitem__(self, key):
        result = super().__getitem__(key)
        if isinstance(key, slice):
            _charge(len(result))
            return _counting(result)
        _charge(1)
        return result

    def __iter__(self):
        for byte in super().__iter__():
            _charge(1)
            yield byte

    def __contains__(self, item) -> bool:
        _charge(len(self))
        return super().__contains__(item)

    def __add__(self, other):
        result = super().__add__(other)
        _charge(len(result))
        return _counting(result)


class CountingBytes(_Charging, bytes):
    """``bytes`` that charges the active WorkMeter for the bytes its methods look at."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        made = bytes.__new__(cls, *args, **kwargs)
        _charge(len(made))
        return made

    def __radd__(self, other):
        if not isinstance(other, bytes):  # a bytearray on the left: let its own += happen
            return NotImplemented
        result = bytes(other) + bytes(self)
        _charge(len(result))
        return _counting(result)

    __hash__ = bytes.__hash__


class CountingBytearray(_Charging, bytearray):
    """``bytearray`` that charges the active WorkMeter (appending charges only the bytes appended)."""

    def __init__(self, *args, **kwargs):
        bytearray.__init__(self, *args, **kwargs)
        _charge(len(self))

    def __iadd__(self, other):
        _charge(len(other))
        return bytearray.__iadd__(self, other)

    def extend(self, other) -> None:
        other = bytes(other) if not isinstance(other, (bytes, bytearray)) else other
        _charge(len(other))
        bytearray.extend(self, other)


_add_counting_methods(CountingBytes, bytes)
_add_counting_methods(CountingBytearray, bytearray)
