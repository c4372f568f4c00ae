"""What a lesson shows, as HTML that fits the notebook's column: tables, packets, ladders, events.

Why not rich's own notebook output: rich draws a block of fixed-width text
(``<pre style="white-space: pre; overflow-x: auto">``) as wide as its
console.  At 120 columns that block is 1011 px wide, and JupyterLab's output
column is 833 px at a 1280 px window and 577 px at 1024 px (4.6, default
layout with the file browser open, measured in chromium; rich's block gets
757 and 501 px of it): every packet table needed horizontal scrolling, and
the "what it means" column was squeezed to a few characters.  Here every view is an HTML table whose
numbers stay on one line and whose words wrap to the column:

* a packet table (any :class:`lab.capture.render.NotedTable`) puts each
  packet's explanation on its own row, under the packet's numbers, as wide
  as the whole table;
* a ladder draws each packet as a label over an arrow between the client's
  and the server's lines, both as wide as the column;
* lifecycle events and plain tables wrap their sentences inside the cell.

The markup survives JupyterLab's sanitizer, which is applied to every output
of a notebook that is opened again later (not trusted): no ``<style>`` or
``<script>``, only the tags and inline CSS properties that sanitizer keeps
(tests/notebooks/test_html.py checks the lists; the browser test checks the
result).  Class names (``chatlab-...``) are hooks for that test; nothing
depends on a style sheet.

All text, and chat text above all (it comes from whoever connected), goes
through :func:`text`: what ``lab.chat.wire.clean_text`` removes for a terminal
(escape sequences, control characters, bidirectional overrides) is removed
here too, and ``<``, ``>``, ``&`` and quotes are escaped.  So no message can
add markup or a script to the notebook.  The styles are the kit's own
constants, never built from data.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Sequence

from lab.chat.wire import clean_text

if TYPE_CHECKING:  # for the annotations only: rendering needs nothing from them
    from lab.capture.render import LadderView, NotedTable

# The colors of rich's style names, dark enough to read on a white page and on a projector.
COLORS = {"green": "#1a7f37", "yellow": "#9a6700", "red": "#cf222e", "cyan": "#0b7285", "magenta": "#8250df",
          "blue": "#0550ae", "white": "", "black": ""}
RULE = "#d0d7de"        # the thin line between two packets
TIMELINE = "#57606a"    # a ladder's two vertical lines

CELL = "padding:1px 6px;vertical-align:top;background:transparent;border:none"
NUMBER = CELL + ";text-align:right;white-space:nowrap"
WORDS = CELL + ";text-align:left;white-space:normal;overflow-wrap:anywhere"
HEADER = CELL + ";text-align:right;white-space:normal;font-weight:bold"   # a numbers column's name may wrap
WORDS_HEADER = WORDS + ";font-weight:bold"
TABLE = "table-layout:auto;border-collapse:collapse;margin:0 0 4px 0;max-width:100%"
BLOCK = "text-align:left;white-space:normal;overflow-wrap:anywhere;margin:2px 0"
SHORT = CELL + ";text-align:left;white-space:nowrap"
SHORT_CHARS = 10   # a value this short ("3 (SACK)", "208.1 ms") is one thing: never broken over two lines
# How many characters a packet table's row of values may take.  The narrowest column we
# promise is JupyterLab's at a 1024 px window, 577 px (file browser open); 9 cells of 12 px
# padding leave 469 px, and a digit of DejaVu Sans (chromium's sans-serif on Debian, one
# of the widest) is 8.3 px at JupyterLab's 13 px: 56 digits.  One kept in hand.
ROW_DIGITS = 55
NUMERIC = re.compile(r"[-+]?\d[\d,._]*(?:\.\d+)?\Z")


def text(value) -> str:
    """``value`` as HTML text: cleaned like a terminal line (lab.chat.wire.clean_text), escaped.

    Line breaks stay line breaks and leading spaces stay an indent; nothing
    in ``value`` can become markup.
    """
    out = []
    for line in str(value).split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        out.append("&nbsp;" * indent + html.escape(clean_text(line), quote=True))
    return "<br>".join(out)


def color(style: str) -> str:
    """The CSS color of a rich style ("bold green" -> "#1a7f37"), or "" for the page's own."""
    for word in style.split():
        found = COLORS.get(word.removeprefix("bright_"))
        if found:
            return found
    return ""


def css(style: str, weight: bool = True) -> str:
    """A rich style ("bold red", "italic", "dim") as inline CSS, for the colors in COLORS (``weight``: bold too)."""
    out = []
    for word in style.split():
        if word == "bold" and weight:
            out.append("font-weight:bold")
        elif word == "italic":
            out.append("font-style:italic")
        elif word == "underline":
            out.append("text-decoration:underline")
        elif word == "dim":
            out.append("opacity:0.8")
    if color(style):
        out.append(f"color:{color(style)}")
    return ";".join(out)


def _join(*styles: str) -> str:
    return ";".join(s for s in styles if s)


def _title(title: str | None) -> str:
    return f'<div style="{BLOCK};font-weight:bold">{text(title)}</div>' if title else ""


def _legend(legend: str | None) -> str:
    return f'<div style="{BLOCK};font-style:italic">{text(legend)}</div>' if legend else ""


def _view(kind: str, inner: str) -> str:
    return f'<div class="chatlab-view chatlab-{kind}" style="max-width:100%;text-align:left">{inner}</div>'


def _width(value: str, justify: str) -> int:
    """How many characters wide a value's cell must be: a number whole; words by their longest line."""
    if justify == "right" or " " not in value:
        return len(value)
    return max(len(word) for word in value.split()) + 2   # "10.77.2.2:52594 →" on the first line


def noted_layout(table: NotedTable) -> str:
    """How movable columns (the endpoints) are shown: "full", "compact" (ports only) or "note".

    The same three steps as the terminal's layout (lab.capture.render), for
    a row of ROW_DIGITS characters: the first that fits.  In "note" the
    movable values lead the explanation instead, so nothing is lost.
    """
    for mode in ("full", "compact", "note"):
        total = 0
        for i, column in enumerate(table.columns):
            if column.movable and mode == "note":
                continue
            values = [row.compact.get(i, row.cells[i]) if mode == "compact" else row.cells[i] for row in table.rows]
            total += max([max(map(len, column.header.split()), default=0)]
                         + [_width(value, column.justify) for value in values])
        if total <= ROW_DIGITS:
            return mode
    return "note"


def noted_table(table: NotedTable) -> str:
    """A NotedTable (the packet table, the connection summary): per row, its values, then its note.

    The values stay on one line each (numbers are never cut; the endpoints
    may wrap at their spaces, and give way to their ports, or move into the
    note, when the row would not fit a 577 px column: :func:`noted_layout`);
    the note, the explanation, is a row of its own as wide as the table,
    indented, wrapping to the column.
    """
    mode = noted_layout(table)
    shown = [i for i, c in enumerate(table.columns) if not (c.movable and mode == "note")]
    head = ""
    if table.header:
        head = "<thead><tr>" + "".join(
            f'<th style="{HEADER if table.columns[i].justify == "right" else WORDS_HEADER}">'
            f"{text(table.columns[i].header)}</th>" for i in shown) + "</tr></thead>"
    bodies = []
    for row in table.rows:
        cells = []
        for i in shown:
            value = row.compact.get(i, row.cells[i]) if mode == "compact" else row.cells[i]
            if table.columns[i].justify == "right":
                layout = NUMBER
            else:   # words: wrap at spaces only ("a:1 → b:2" may take two lines)
                layout = CELL + ";text-align:left;white-space:normal"
            # the row's color, not its weight: bold digits are 9 % wider than ROW_DIGITS counts
            cells.append(f'<td style="{_join(layout, css(row.style, weight=False))}">{text(value)}</td>')
        body = f'<tr style="border-top:1px solid {RULE}">{"".join(cells)}</tr>'
        note = row.note
        if mode == "note":
            moved = [row.cells[i] for i, c in enumerate(table.columns) if c.movable and row.cells[i]]
            note = "  ".join(moved) + (": " if moved and note else "") + note
        if note:
            body += (f'<tr><td colspan="{len(shown)}" class="chatlab-explanation" '
                     f'style="{_join(WORDS, "padding-left:24px;padding-bottom:4px", css(row.note_style))}">'
                     f"{text(note)}</td></tr>")
        bodies.append(f"<tbody>{body}</tbody>")
    inner = (_title(table.title)
             + f'<table class="chatlab-table" style="{TABLE};width:100%">{head}{"".join(bodies)}</table>'
             + _legend(table.legend))
    return _view("packets", inner)


def _numeric(values: Sequence) -> bool:
    shown = [v for v in values if v not in ("", None)]
    return bool(shown) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               or isinstance(v, str) and NUMERIC.match(v) for v in shown)


def _cell_style(value, numeric: bool) -> str:
    if numeric:
        return NUMBER
    return SHORT if len(str(value)) <= SHORT_CHARS else WORDS


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain table: numbers right-aligned, short values ("208.1 ms") on one line, longer text wraps."""
    numeric = [_numeric([row[i] for row in rows]) for i in range(len(columns))]
    head = "".join(f'<th style="{HEADER if num else WORDS}">{text(col)}</th>' for col, num in zip(columns, numeric))
    body = "".join(
        f'<tr style="border-top:1px solid {RULE}">'
        + "".join(f'<td style="{_cell_style(value, num)}">{text(value)}</td>' for value, num in zip(row, numeric))
        + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{max(1, len(columns))}" style="{WORDS};font-style:italic">(none)</td></tr>'
    inner = _title(title) + f'<table class="chatlab-table" style="{TABLE}"><thead><tr>{head}</tr></thead>' \
                            f"<tbody>{body}</tbody></table>"
    return _view("table", inner)


def events(lines: Sequence[Sequence[tuple[str, str]]]) -> str:
    """Lifecycle event lines (each ``lab.lifecycle.EventLog.parts``): time, side, event, what happened.

    The first three pieces of each line get a column each; the rest (the
    connection number, the member's name, the sentence) is one cell that
    wraps.
    """
    head = "".join(f'<th style="{WORDS_HEADER}">{name}</th>'
                   for name in ("time", "side", "event", "what happened"))
    rows = []
    for parts in lines:
        fixed, rest = parts[:3], parts[3:]
        cells = "".join(f'<td style="{_join(CELL, "text-align:left;white-space:nowrap", css(style))}">'
                        f"{text(piece.strip())}</td>" for piece, style in fixed)
        story = " ".join(f'<span style="{css(style)}">{text(piece.strip())}</span>' if css(style)
                         else text(piece.strip()) for piece, style in rest)
        rows.append(f'<tr style="border-top:1px solid {RULE}">{cells}'
                    f'<td class="chatlab-explanation" style="{WORDS}">{story}</td></tr>')
    inner = (f'<table class="chatlab-table" style="{TABLE};width:100%">'
             f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _view("events", inner)


def ladder(view: LadderView) -> str:
    """A ladder diagram: the client's line on the left, the server's on the right, one arrow per packet.

    Each packet is two rows: its label (and the chat text it carries) on the
    sender's side, then the arrow, with the time since the connection's
    first packet in front.  Both lines and arrows stretch to the column.
    """
    line = f"3px solid {TIMELINE}"
    lane = f"border-left:{line};border-right:{line}"
    head = (f'<tr><th style="{NUMBER};font-weight:bold">time</th>'
            f'<th style="{WORDS};font-weight:bold;width:50%">{text(view.left)}</th>'
            f'<th style="{WORDS};font-weight:bold;text-align:right;width:50%">{text(view.right)}</th></tr>')
    bodies = []
    for step in view.steps:
        paint = css(step.style) or "font-weight:normal"
        rightwards = step.role == "client"
        label = text(step.label) + (f' <span style="font-weight:normal">{text(step.text)}</span>'
                                    if step.text else "")
        align = "text-align:left" if rightwards else "text-align:right"
        shaft = f'<span style="flex:1 1 auto;border-top:2px solid {color(step.style) or TIMELINE};height:0"></span>'
        head_ = f'<span style="flex:none;line-height:1">{"&#9654;" if rightwards else "&#9664;"}</span>'
        arrow = shaft + head_ if rightwards else head_ + shaft
        bodies.append(
            f'<tbody><tr><td style="{CELL}"></td>'
            f'<td colspan="2" style="{_join(WORDS, align, lane, paint)}">{label}</td></tr>'
            f'<tr><td style="{NUMBER}">{text(step.time)}</td>'
            f'<td colspan="2" style="{_join(CELL, lane, "padding-top:0;padding-bottom:3px", paint)}">'
            f'<div style="display:flex;align-items:center">{arrow}</div></td></tr></tbody>')
    inner = (f'<table class="chatlab-table" style="{TABLE};width:100%"><thead>{head}</thead>'
             f'{"".join(bodies)}</table>' + _legend(view.legend))
    return _view("ladder", inner)


def preformatted(plain: str) -> str:
    """Any other text block (rich renderables the kit has no HTML view for): wrapped, never wider."""
    return _view("text", f'<pre style="white-space:pre-wrap;overflow-wrap:anywhere;margin:0">{text(plain)}</pre>')
