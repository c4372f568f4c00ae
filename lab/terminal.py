"""The chat clients' terminal: a prompt that messages never garble, and server lines drawn by kind.

Both `chatlab client` (TCP) and `chatlab client --udp` use it.  The main
thread reads what the user types with ``Screen.read_line`` (readline, with
the prompt ``NAME> ``); the receiving thread draws each arriving line with
``Screen.show``, which erases the prompt and the half-typed text, prints the
line, and draws them again, so the user keeps typing where they were.
``render_line`` turns a server line into rich ``Text`` by kind (``<bob>``
in bob's colour, errors in red, ``--- list:`` without its code): the text
itself is always literal, never markup.

The arithmetic of rows (a typed line longer than the terminal wraps; wide
characters take two columns) is in ``rows_above``, ``rows_taken`` and
``past_margin``, tested without a terminal in tests/test_terminal.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from typing import Any

from lab.chat import wire

# --- drawing server lines -------------------------------------------------------

_NAME_COLOURS = ("cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green", "bright_magenta")


def name_colour(name: str) -> str:
    """The colour a name is always drawn in (the same on every screen)."""
    return _NAME_COLOURS[sum(name.casefold().encode()) % len(_NAME_COLOURS)]


def render_line(line: str, in_history: bool = False):
    """A server line as rich Text, styled by kind; text is always literal.

    Codes of ``---`` and ``!!!`` lines are for programs (docs/PROTOCOL.md),
    so only the text after them is shown; a line that is not the protocol
    is shown as it is (the caller cleaned it).  History lines are dimmed.

    >>> render_line("12:00:00 --- list: 2 online: alice, bob").plain
    '12:00:00 --- 2 online: alice, bob'
    >>> render_line("12:00:00 <bob> [bold]hi[/]").plain
    '12:00:00 <bob> [bold]hi[/]'
    """
    from rich.text import Text

    parsed = wire.parse_server_line(line)
    out = Text()
    if parsed is None:
        out.append(line)
        return out
    out.append(parsed.time + " ", style="dim")
    if parsed.kind == "public":
        out.append(f"<{parsed.name}> ", style=f"bold {name_colour(parsed.name)}")
        out.append(parsed.text)
    elif parsed.kind == "private":
        out.append(f"*{parsed.name}* ", style="bold magenta")
        out.append(parsed.text, style="magenta")
    elif parsed.kind == "private-echo":
        out.append(f"-> {parsed.name} ", style="magenta")
        out.append(parsed.text, style="magenta")
    elif parsed.kind == "event":
        out.append("*** ", style="yellow")
        out.append(parsed.name or "", style=f"bold {name_colour(parsed.name or '')}")
        out.append(f" {parsed.code}" if parsed.code else "", style="yellow")
        if parsed.text:
            out.append(f" ({parsed.text})", style="yellow")
    elif parsed.kind == "error":
        out.append("!!! ", style="bold red")
        out.append(parsed.text, style="red")
    else:
        out.append("--- ", style="cyan")
        out.append(parsed.text, style="cyan")
    if in_history:
        out.stylize("dim")
    return out


# --- the arithmetic of terminal rows ---------------------------------------------


def cells(shown: str) -> int:
    """Terminal columns ``shown`` takes: wide characters (CJK, emoji) take two."""
    from rich.cells import cell_len

    return cell_len(shown)


def terminal_width() -> int:
    """Columns of the terminal (at least 1)."""
    return max(1, shutil.get_terminal_size().columns)


def rows_above(shown: str, width: int) -> int:
    """Rows between the cursor, at the end of ``shown``, and the row ``shown`` starts on.

    A line longer than the terminal wraps onto the next rows; at an exact
    multiple of the width readline moves the cursor to the start of a new row.

    >>> rows_above("alice> hi", 40), rows_above("x" * 45, 40), rows_above("x" * 40, 40)
    (0, 1, 1)
    """
    return cells(shown) // width


def rows_taken(shown: str, width: int) -> int:
    """Rows ``shown`` takes (at least one): after Enter the cursor is on the row below them.

    >>> rows_taken("", 40), rows_taken("x" * 40, 40), rows_taken("x" * 41, 40)
    (1, 1, 2)
    """
    return max(1, -(-cells(shown) // width))


def past_margin(shown: str, width: int) -> str:
    """CR LF when ``shown`` exactly fills its last row, else nothing.

    The terminal leaves the cursor on that row, past the margin; readline,
    which drew the line first, had put it at the start of the next row, and
    readline's later redrawing (and ``rows_above``) counts on that.

    >>> past_margin("x" * 40, 40), past_margin("x" * 39, 40)
    ('\\r\\n', '')
    """
    used = cells(shown)
    return "\r\n" if used and used % width == 0 else ""


def erase_rows(up: int) -> str:
    """Terminal codes: go up ``up`` rows to column 0, and clear from there to the end of the screen."""
    return ("\r" if up == 0 else f"\x1b[{up}A\r") + "\x1b[J"


# --- the screen ---------------------------------------------------------------------

_IDLE, _DRAWING, _SHOWN = "idle", "drawing", "shown"  # where the prompt is


class Screen:
    """One terminal shared by the thread that reads the keyboard and the one that shows messages.

    ``interactive`` (stdin is a terminal): the prompt is drawn with
    readline and kept whole under arriving messages.  Otherwise (a pipe)
    lines are read and printed plainly, with no prompt.

    The prompt is in one of three states: *idle* (not on screen),
    *drawing* (``input()`` was called, readline has not drawn it yet) and
    *shown*.  ``show`` waits while it is being drawn: printing a message in
    that moment put the prompt in front of the message
    (``carol> 19:21:28 --- the last 6 messages...``).  readline's
    pre-input hook says when the prompt is on screen.
    """

    DRAWING_WAIT_S = 0.5  # longest wait for readline to draw the prompt (it takes microseconds)

    def __init__(self, console: Any, interactive: bool, prompt: str = ""):
        self.console = console
        self.interactive = interactive
        self.prompt = prompt if interactive else ""
        self._state = _IDLE
        self._cond = threading.Condition()
        self._interrupted_mid_line = False
        self._woken = False
        self._readline = None
        if interactive and sys.stdout.isatty():
            try:
                import readline

                readline.set_pre_input_hook(self._prompt_drawn)
                self._readline = readline
            except ImportError:  # pragma: no cover - Python built without readline
                pass

    # -- the receiving thread --------------------------------------------------

    def show(self, text: Any) -> None:
        """Print ``text`` (a rich renderable) above the prompt and the half-typed line, from any thread."""
        with self._cond:
            self._cond.wait_for(lambda: self._state != _DRAWING, timeout=self.DRAWING_WAIT_S)
            if self._state == _SHOWN:
                typed = self._readline.get_line_buffer() if self._readline else ""
                width = terminal_width()
                # the cursor is on the last terminal row of prompt + typed text
                sys.stdout.write(erase_rows(rows_above(self.prompt + typed, width)))
                sys.stdout.flush()
                self.console.print(text)
                sys.stdout.write(self.prompt + typed + past_margin(self.prompt + typed, width))
                sys.stdout.flush()
            else:
                self.console.print(text)

    def wake(self) -> None:
        """From another thread: make ``read_line`` in the main thread raise KeyboardInterrupt now.

        A signal is the one thing that interrupts a blocking ``input()``;
        ``woken`` then tells the main thread it was us, not the user's Ctrl-C.
        """
        self._woken = True
        os.kill(os.getpid(), signal.SIGINT)

    @property
    def woken(self) -> bool:
        """True once ``wake`` was called."""
        return self._woken

    # -- the main thread -----------------------------------------------------------

    def read_line(self) -> str | None:
        """The next line the user typed (without its line end), or None at the end of input.

        Ctrl-C (or ``wake``) raises KeyboardInterrupt, as ``input()`` does.
        """
        if not self.interactive:
            line = sys.stdin.readline()
            return line.rstrip("\r\n") if line else None
        with self._cond:
            # without readline's hook we cannot know when the prompt is drawn: count it as drawn now
            self._state = _DRAWING if self._readline else _SHOWN
        interrupted = False
        try:
            return input(self.prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            with self._cond:
                self._interrupted_mid_line = interrupted and self._state == _SHOWN
                self._state = _IDLE
                self._cond.notify_all()

    def show_own(self, text: Any, typed: str) -> None:
        """Replace the line the user just entered (``typed``) with its rendered form ``text``."""
        with self._cond:
            if self.interactive:
                # Enter moved the cursor to the row below everything that was typed
                sys.stdout.write(erase_rows(rows_taken(self.prompt + typed, terminal_width())))
                sys.stdout.flush()
            self.console.print(text)

    def leave(self, text: str, style: str = "bold") -> None:
        """The last words (``disconnected: ...``), on a row of their own.

        When input was interrupted in the middle of a typed line, the
        cursor is still at its end: move below it first, so the message is
        not glued to the half-typed text (which stays visible).
        """
        with self._cond:
            if self._interrupted_mid_line:
                sys.stdout.write("\r\n")
                sys.stdout.flush()
                self._interrupted_mid_line = False
            self.console.print(text, style=style)

    def _prompt_drawn(self) -> None:
        """readline's pre-input hook: the prompt is on screen, messages may be drawn around it."""
        with self._cond:
            if self._state == _DRAWING:
                self._state = _SHOWN
            self._cond.notify_all()
