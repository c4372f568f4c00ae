"""The chat clients' terminal: a prompt that messages never garble, and server lines drawn by kind.

Both `chatlab client` (TCP) and `chatlab client --udp` use it.  The main
thread reads what the user types with ``Screen.read_line`` (readline, with
the prompt ``NAME> ``); the receiving thread draws each arriving line with
``Screen.show``, which erases the prompt and the half-typed text, prints the
line, and draws them again, so the user keeps typing where they were.
``render_line`` turns a server line into rich ``Text`` by kind (``<bob>``
in bob's colour, errors in red, ``--- list:`` without its code): the text
itself is always literal, never markup.  ``TerminalSession`` is the input
loop both clients share, from the first prompt to ``disconnected: ...``.

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
import time
from typing import Any, Callable

from lab.chat import wire
from lab.chat.client_core import is_quit

class ClientError(Exception):
    """A problem worth one line to the user of a client (connection refused, name refused, no answer...)."""


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


# --- a chat session at the terminal -----------------------------------------------


class TerminalSession:
    """What both chat clients do between joining and leaving, at a terminal.

    The main thread reads typed lines (``Screen.read_line``), draws the
    user's own chat messages as the others will see them, sends each line
    and stops on ``/quit``, the end of input, Ctrl-C, or when the receiving
    thread ends the session (``end_once`` then ``Screen.wake``).  A client
    subclasses it and says how to send (``send_typed``), what Ctrl-C does to
    the connection (``on_ctrl_c``) and what to do when ``/quit`` gets no
    answer (``quit_unanswered``).
    """

    quit_wait_s = 3.0  # how long to wait for the server's bye after /quit

    def __init__(self) -> None:
        self.ended: tuple[str, str] | None = None  # (how, detail): how the session ended, set once
        self._ended_lock = threading.Lock()
        self.screen: Screen | None = None

    def end_once(self, how: str, detail: str) -> bool:
        """Record how the session ended; only the first call counts (True for it)."""
        with self._ended_lock:
            if self.ended is not None:
                return False
            self.ended = (how, detail)
            return True

    def chat(self, screen: Screen, receive: Callable[[], None]) -> tuple[str, str]:
        """Run ``receive`` in a thread and the keyboard here until the session ends; how it ended."""
        self.screen = screen
        receiver = threading.Thread(target=receive, name="receiver", daemon=True)
        receiver.start()
        try:
            self._input_loop()
        except KeyboardInterrupt:
            if not screen.woken and self.end_once("local", "Ctrl-C"):
                self.on_ctrl_c()
                screen.leave("disconnected (Ctrl-C)")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return self.ended or ("local", "end of input")

    def _input_loop(self) -> None:
        while self.ended is None:
            typed = self.screen.read_line()
            if self.ended is not None:
                return
            if typed is None:  # end of input (Ctrl-D, or a pipe that ended)
                typed = "/quit"
            if not typed.strip():
                continue
            own = wire.own_message(time.time(), self.name, typed) if self.screen.interactive else None
            try:
                self.send_typed(typed.strip())
            except ValueError as error:  # the line cannot be sent (too big for a datagram)
                self.screen.show(render_line(wire.format_error(time.time(), "not-sent", str(error))))
                continue
            if own is not None:
                self.screen.show_own(render_line(own), typed)
            if is_quit(typed):
                deadline = time.monotonic() + self.quit_wait_s
                while self.ended is None and time.monotonic() < deadline:
                    time.sleep(0.02)  # the receiving thread ends the session when the bye arrives
                if self.ended is None:
                    self.quit_unanswered()
                return

    # -- what a client fills in --------------------------------------------------

    name: str | None = None

    def send_typed(self, text: str) -> None:  # pragma: no cover - every client has its own
        """Send one typed line; ValueError (with the reason) if it cannot be sent."""
        raise NotImplementedError

    def on_ctrl_c(self) -> None:
        """The user pressed Ctrl-C: close the connection (the message is printed after)."""

    def quit_unanswered(self) -> None:
        """``/quit`` got no answer within ``quit_wait_s``: end the session here."""
        self.end_once("local", "/quit: no answer from the server")
