"""Showing things in a notebook: rich tables, notes, lifecycle events, server lines."""

from __future__ import annotations


def console():
    """A rich Console that renders well in a notebook and on a projector."""
    from rich.console import Console

    return Console(width=120, highlight=False, emoji=False)


def show(renderable) -> None:
    """Print a rich renderable (table, text) or a string."""
    console().print(renderable)


def note(text: str, kind: str = "warning") -> None:
    """A visible box in the notebook (a markdown quote), also readable as plain text."""
    mark = {"warning": "⚠️ **Note:**", "info": "ℹ️", "ok": "✅"}.get(kind, "")
    plain = f"[{kind.upper()}] " + text.replace("**", "")
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - outside Jupyter
        print(plain)
        return
    display({"text/markdown": f"> {mark} {text}", "text/plain": plain}, raw=True)


def table(rows: list[dict], title: str | None = None, columns: list[str] | None = None):
    """A rich Table from a list of dicts (one row each); returns it (display with show)."""
    from rich.table import Table

    columns = columns or (list(rows[0]) if rows else [])
    out = Table(title=title, title_style="bold")
    for col in columns:
        out.add_column(col)
    for row in rows:
        out.add_row(*[str(row.get(col, "")) for col in columns])
    return out


def events(log_or_events, kinds: tuple[str, ...] = ("listening", "accepted", "named", "closed", "stopped")) -> None:
    """Show lifecycle events (lab.lifecycle) as sentences: a server's ``log``, or a list of events."""
    from lab.lifecycle import EventLog

    found = getattr(log_or_events, "events", log_or_events)
    for event in list(found):
        if event.kind in kinds:
            show(EventLog.render(event))


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
