"""Showing things in a lesson: tables, packets, ladders, lifecycle events, server lines, notes.

One entry point, :func:`show`, and one rule: in a notebook every view is
HTML that fits the notebook's column (lab/notebook/html.py: numbers on one
line, explanations wrapping, no horizontal scrolling at 1024 px), with rich's
80-column text beside it as the output's ``text/plain`` (what nbconvert's
text export, a terminal IPython and the tests read); anywhere else (a
script, a terminal) it is rich's text, at the terminal's width.

The views are data first: :class:`Table` (from :func:`table`),
:class:`Events` (lifecycle events), :class:`Ladder` (one connection's
packets) and lab.capture.render's NotedTable (packet tables, connection
summaries).  Each of ours is a rich renderable and has an IPython MIME
bundle, so ``nb.table(rows)`` as the last line of a cell shows the same HTML.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from lab.notebook import html

PLAIN_WIDTH = 80  # the text/plain beside the HTML: what reads well at 80 columns


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, nbclient), where outputs can be HTML."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def console():
    """A rich Console for the terminal (its own width; no highlighting of numbers, no emoji codes)."""
    from rich.console import Console

    return Console(highlight=False, emoji=False)


def plain(renderable, width: int = PLAIN_WIDTH) -> str:
    """``renderable`` as rich draws it on a ``width``-column terminal, without colors."""
    from rich.console import Console

    out = Console(file=io.StringIO(), width=width, color_system=None, highlight=False, emoji=False,
                  force_jupyter=False, force_terminal=False)
    out.print(renderable)
    return out.file.getvalue().rstrip("\n")


def html_of(renderable) -> str:
    """The HTML view of anything :func:`show` accepts."""
    from lab.capture.render import NotedTable

    if isinstance(renderable, NotedTable):
        return html.noted_table(renderable)
    if hasattr(renderable, "_repr_html_"):
        return renderable._repr_html_()
    return html.preformatted(plain(renderable))


def bundle(renderable) -> dict:
    """The MIME bundle a notebook gets: the HTML view, and the 80-column text beside it."""
    return {"text/html": html_of(renderable), "text/plain": plain(renderable)}


def show(renderable) -> None:
    """Show a view (table, packets, ladder, events) or a string: HTML in a notebook, rich text elsewhere."""
    if isinstance(renderable, str):
        print(renderable)
    elif in_notebook():
        from IPython.display import display

        display(bundle(renderable), raw=True)
    else:
        console().print(renderable)


def note(text: str, kind: str = "warning") -> None:
    """A visible box in the notebook (a markdown quote), also readable as plain text."""
    mark = {"warning": "⚠️ **Note:**", "info": "ℹ️", "ok": "✅"}.get(kind, "")
    plain_text = f"[{kind.upper()}] " + text.replace("**", "")
    if not in_notebook():
        print(plain_text)
        return
    from IPython.display import display

    display({"text/markdown": f"> {mark} {text}", "text/plain": plain_text}, raw=True)


class _View:
    """What our views share: a MIME bundle for IPython's display()."""

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return bundle(self)


@dataclass
class Table(_View):
    """A plain table: a title, column names, rows of values (shown as text)."""

    title: str | None
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    def __rich_console__(self, console, options):
        from rich.table import Table as RichTable
        from rich.text import Text

        # Text(...), not str: a value such as "[red]" (chat text) is shown as typed, never as markup.
        out = RichTable(title=Text(self.title) if self.title else None, title_style="bold")
        for col in self.columns:
            out.add_column(Text(col))
        for row in self.rows:
            out.add_row(*[Text(str(value)) for value in row])
        yield out

    def _repr_html_(self) -> str:
        return html.table(self.title, self.columns, self.rows)


def table(rows: list[dict], title: str | None = None, columns: list[str] | None = None) -> Table:
    """A Table from a list of dicts (one row each; ``columns``: which keys, in order); display with show."""
    columns = columns or (list(rows[0]) if rows else [])
    return Table(title, list(columns), [[row.get(col, "") for col in columns] for row in rows])


@dataclass
class Events(_View):
    """Lifecycle events (lab.lifecycle), one line each: time, side, event, what happened."""

    events: list

    def __rich_console__(self, console, options):
        from lab.lifecycle import EventLog

        for event in self.events:
            yield EventLog.render(event)

    def _repr_html_(self) -> str:
        from lab.lifecycle import EventLog

        return html.events([EventLog.parts(event) for event in self.events])


def events(log_or_events, kinds: tuple[str, ...] = ("listening", "accepted", "named", "closed", "stopped")) -> None:
    """Show lifecycle events (lab.lifecycle) as sentences: a server's ``log``, or a list of events."""
    found = [e for e in list(getattr(log_or_events, "events", log_or_events)) if e.kind in kinds]
    if found:
        show(Events(found))
    else:
        show(f"(no {' / '.join(kinds)} event yet)")


@dataclass
class Ladder(_View):
    """The ladder diagram of one connection of a capture (lab.capture.render draws it)."""

    annotated: list
    stream: object
    names: dict | None = None

    def __rich_console__(self, console, options):
        from lab.capture.render import ladder

        yield ladder(self.annotated, self.stream, width=min(options.max_width, 110), names=self.names)

    def _repr_html_(self) -> str:
        from lab.capture.render import ladder_view

        return html.ladder(ladder_view(self.annotated, self.stream, self.names))


def show_lines(lines: list[str], title: str = "server lines, parsed with lab.chat.wire.parse_server_line") -> None:
    """Server lines as a table: time, kind, name, body (the documented parsing rule)."""
    from lab.chat.wire import parse_server_line

    rows = []
    for line in lines:
        parsed = parse_server_line(line)
        if parsed is None:
            rows.append({"time": "", "kind": "(not a server line)", "name": "", "code": "", "text": line})
        else:
            rows.append({"time": parsed.time, "kind": parsed.kind, "name": parsed.name or "",
                         "code": parsed.code or "", "text": parsed.text})
    show(table(rows, title, ["time", "kind", "name", "code", "text"]))
