"""lab/notebook/html.py and display.py: the HTML views, their escaping, and what show() emits where.

The layout itself is measured in a real browser (test_browser.py); here,
without one: chat text can never become markup, every view uses only what
JupyterLab's sanitizer keeps (so a saved, untrusted notebook looks the same),
and each view has the structure the browser test relies on.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lab import notebook as nb
from lab.capture import Annotator, read_pcap
from lab.capture.render import packet_table, summary_table
from lab.lifecycle import Accepted, Closed, EventLog, Listening, Named
from lab.notebook import html
from lab.notebook.display import Events, Ladder, bundle, html_of, plain
from lab.notebook.settings import LESSON_DATA

# What JupyterLab 4's sanitizer (@jupyterlab/apputils, sanitizer.ts) keeps, for the
# tags and properties the views use: the browser test checks the result on the real thing.
SANITIZER_TAGS = {"a", "b", "br", "caption", "code", "div", "em", "i", "pre", "span", "strong", "table", "tbody",
                  "td", "tfoot", "th", "thead", "tr"}
SANITIZER_ATTRIBUTES = {"class", "style", "colspan", "rowspan", "title"}
SANITIZER_STYLES = {"align-items", "background", "border", "border-collapse", "border-left", "border-right",
                    "border-top", "color", "display", "flex", "font-style", "font-weight", "height", "line-height",
                    "margin", "max-width", "opacity", "overflow-wrap", "padding", "padding-bottom", "padding-left",
                    "padding-top", "table-layout", "text-align", "text-decoration", "vertical-align", "white-space",
                    "width"}
HOSTILE = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "\x1b[31mred\x1b[0m",
           "\u202eevil", "[bold]markup[/bold]", "a & b"]


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML fragment."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def styles(self) -> set[str]:
        return {rule.split(":", 1)[0].strip() for _, attrs in self.tags
                for rule in (attrs.get("style") or "").split(";") if rule.strip()}


def _capture(name: str):
    meta = json.loads((LESSON_DATA / f"{name}.json").read_text())
    annotator = Annotator(set(meta["server_ports"]))
    return [annotator.feed(s) for s in read_pcap(LESSON_DATA / f"{name}.pcap")], annotator


def _events():
    events = [Listening(address=("127.0.0.1", 5050), backlog=5),
              Accepted(conn=1, client=("127.0.0.1", 40000), server=("127.0.0.1", 5050)),
              Named(conn=1, name="alice"),
              Closed(conn=1, name="alice", how="rst", detail=HOSTILE[0], bytes_in=5)]
    for i, event in enumerate(events):
        event.time = 1_700_000_000 + i
    return events


def _views() -> dict[str, str]:
    """One of each view, on lesson 1's recorded packets and on hostile text."""
    packets, annotator = _capture("01-handshake")
    return {
        "packets": html.noted_table(packet_table(packets, title="title " + HOSTILE[0])),
        "summary": html.noted_table(summary_table(annotator.streams)),
        "table": nb.table([{"name": text, "n": i} for i, text in enumerate(HOSTILE)], HOSTILE[1])._repr_html_(),
        "events": Events(_events())._repr_html_(),
        "ladder": Ladder(packets, annotator.streams[0])._repr_html_(),
        "text": html.preformatted("\n".join(HOSTILE)),
    }


@pytest.mark.parametrize("view", ["packets", "summary", "table", "events", "ladder", "text"])
def test_views_use_only_what_jupyterlabs_sanitizer_keeps(view):
    parsed = Elements(_views()[view])
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= SANITIZER_TAGS, f"{view}: tags the sanitizer removes: {tags - SANITIZER_TAGS}"
    attributes = {name for _, attrs in parsed.tags for name in attrs}
    assert attributes <= SANITIZER_ATTRIBUTES, f"{view}: attributes removed: {attributes - SANITIZER_ATTRIBUTES}"
    assert parsed.styles() <= SANITIZER_STYLES, f"{view}: CSS properties removed: {parsed.styles() - SANITIZER_STYLES}"
    assert parsed.tags[0] == ("div", parsed.tags[0][1]) and "chatlab-view" in parsed.tags[0][1]["class"]


@pytest.mark.parametrize("view", ["table", "events", "text"])
def test_hostile_text_is_shown_as_text_never_as_markup(view):
    markup = _views()[view]
    parsed = Elements(markup)
    assert not {"script", "img"} & {tag for tag, _ in parsed.tags}
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    shown = "".join(parsed.text)
    assert '<script>alert("x")</script>' in shown        # visible, as typed
    if view != "events":
        assert '"><img src=x onerror=alert(1)>' in shown and "[bold]markup[/bold]" in shown and "a & b" in shown
        assert "red" in shown
    assert "\x1b" not in markup and "\u202e" not in markup   # what clean_text removes for a terminal


def test_the_wrong_answer_escaping_is_caught():
    # the check above can fail: unescaped text yields a real tag
    parsed = Elements(f"<td>{HOSTILE[0]}</td>")
    assert "script" in {tag for tag, _ in parsed.tags}


def test_text_keeps_line_breaks_and_indents_and_escapes_quotes():
    assert html.text("  the same\nnext") == "&nbsp;&nbsp;the same<br>next"
    assert html.text('"x" \'y\'') == "&quot;x&quot; &#x27;y&#x27;"


def test_packet_table_puts_each_explanation_on_its_own_row_under_all_the_numbers():
    packets, _ = _capture("01-handshake")
    view = packet_table(packets)
    markup = html.noted_table(view)
    notes = re.findall(r'<td colspan="(\d+)" class="chatlab-explanation"[^>]*>(.*?)</td>', markup)
    assert len(notes) == len(view.rows) == len(packets)
    assert {int(span) for span, _ in notes} == {len(view.columns)}
    assert notes[0][1] == html.text(view.rows[0].note)
    # every number of every packet is in the markup, whole, in a cell that does not wrap
    for row in view.rows:
        for column, value in zip(view.columns, row.cells):
            if column.justify == "right" and value:
                assert re.search(rf'white-space:nowrap[^>]*>{re.escape(value)}</td>', markup), value
    assert "table-layout:auto" in markup        # JupyterLab's own style sheet says fixed


def test_ladder_has_one_label_and_one_arrow_per_packet_in_the_right_direction():
    packets, annotator = _capture("01-handshake")
    stream = annotator.streams[0]
    markup = Ladder(packets, stream)._repr_html_()
    sent = [a for a in packets if a.stream == stream.index and a.segment.proto == stream.proto]
    arrows = re.findall(r"&#9654;|&#9664;", markup)
    assert arrows == ["&#9654;" if a.role == "client" else "&#9664;" for a in sent]
    assert '"alice"' in "".join(Elements(markup).text)      # the chat text the packet carried


def test_events_view_has_time_side_event_and_the_sentence():
    markup = Events(_events())._repr_html_()
    rows = re.findall(r"<tr style=[^>]*>(.*?)</tr>", markup)
    assert len(rows) == 4
    first = "".join(Elements(rows[0]).text)
    assert "server" in first and "LISTENING" in first and "listening on 127.0.0.1:5050" in first
    assert "#1" in "".join(Elements(rows[3]).text) and "alice:" in "".join(Elements(rows[3]).text)


def test_plain_table_aligns_numbers_and_keeps_short_values_whole():
    markup = nb.table([{"n": 12, "waited": "208.1 ms", "why": "a long explanation that may wrap anywhere"}])._repr_html_()
    cells = re.findall(r'<td style="([^"]*)">([^<]*)</td>', markup)
    styles = {value: style for style, value in cells}
    assert "text-align:right" in styles["12"] and "nowrap" in styles["12"]
    assert "nowrap" in styles["208.1 ms"]
    assert "overflow-wrap:anywhere" in styles["a long explanation that may wrap anywhere"]


def test_bundle_has_the_html_and_80_column_text():
    packets, _ = _capture("01-handshake")
    for view in (packet_table(packets), nb.table([{"a": "x" * 200}]), Events(_events())):
        out = bundle(view)
        assert out["text/html"] == html_of(view)
        assert max(len(line) for line in out["text/plain"].splitlines()) <= 80


def test_plain_text_shows_markup_as_typed():
    assert "[bold]markup[/bold]" in plain(nb.table([{"x": "[bold]markup[/bold]"}], "[red]title"))
    assert "[red]title" in plain(nb.table([{"x": "a value as wide as the title"}], "[red]title"))


def test_outside_a_notebook_show_prints_rich_text():
    # a fresh interpreter: no IPython kernel there, so show() prints the terminal's text
    code = ("from lab import notebook as nb; nb.show(nb.table([{'packet': 1, 'what': 'SYN'}], 'title')); "
            "nb.events([]); nb.note('careful')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "<" not in done.stdout and "title" in done.stdout and "SYN" in done.stdout
    assert "(no listening / accepted / named / closed / stopped event yet)" in done.stdout
    assert "[WARNING] careful" in done.stdout


def test_in_a_kernel_show_displays_html_beside_the_text():
    from nbclient import NotebookClient
    import nbformat

    from tests.notebooks.run import kernel_name

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "from lab import notebook as nb\n"
        "nb.show(nb.table([{'packet': 1, 'what': '<b>SYN</b>'}], 'title'))\n"
        "nb.table([{'a': 1}])")]
    NotebookClient(notebook, timeout=60, kernel_name=kernel_name()).execute()
    shown, last = notebook.cells[0].outputs
    assert shown.output_type == "display_data" and "chatlab-table" in shown.data["text/html"]
    assert "&lt;b&gt;SYN&lt;/b&gt;" in shown.data["text/html"] and "<b>SYN</b>" in shown.data["text/plain"]
    # a view as the last expression of a cell shows the same HTML
    assert last.output_type == "execute_result" and "chatlab-table" in last.data["text/html"]


def test_a_row_too_wide_for_the_column_gives_the_endpoints_way_as_the_terminal_does():
    from lab.capture.render import PACKET_COLUMNS, NotedTable, Row

    packets, _ = _capture("01-handshake")
    assert html.noted_layout(packet_table(packets)) == "full"      # 127.0.0.1 both ways: fits, wrapped
    reset, _ = _capture("09-reset")    # addresses of two namespaces; windows up to 67107840, later seq 10 digits
    assert html.noted_layout(packet_table(reset[:45])) == "compact"
    markup = html.noted_table(packet_table(reset[:45]))
    assert "52594→5050</td>" in markup and "10.77.2.2:52594 → 10.77.0.2:5050</td>" not in markup
    assert html.noted_layout(packet_table(reset)) == "note"
    huge = ["1" * 12, "0.000000", "tcp0", "10.0.0.1:1000 → 10.0.0.2:2000", "SA", "9" * 12, "9" * 12, "65535",
            "9" * 12]
    table = NotedTable(PACKET_COLUMNS, [Row(huge, "the note", compact={3: "1000→2000"})])
    assert html.noted_layout(table) == "note"
    notes = re.findall(r'class="chatlab-explanation"[^>]*>([^<]*)<', html.noted_table(table))
    assert notes == [html.text("10.0.0.1:1000 → 10.0.0.2:2000: the note")]   # moved, not lost
    assert html.noted_table(table).count("<th ") == len(PACKET_COLUMNS) - 1


def test_numbers_rows_keep_their_color_but_not_bold():
    packets, _ = _capture("01-handshake")      # the handshake rows are "bold green"
    row = re.search(r"<tbody><tr[^>]*>(.*?)</tr>", html.noted_table(packet_table(packets))).group(1)
    assert "color:#1a7f37" in row and "font-weight:bold" not in row
