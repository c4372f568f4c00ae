"""Views of annotated packets: the packet table, ladder diagrams, connection summaries.

Rendering only: everything shown comes from lab.capture.annotate.  The
views are data first: :class:`NotedTable` keeps its columns and rows (each
row a line of values and, under it, a note: the explanation), so a notebook
can draw the same rows as HTML, and it renders itself for rich at any
width.  At 80 columns, piped, or on a projector, numbers are never cut:
when the line of values does not fit, the endpoints move into the note
(ports only first), and the explanation always wraps under its row.

rich is imported inside the functions; matplotlib only by :func:`ladder_figure`.
Styles are chosen to stay readable on a projector (no dim text for content).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.capture.analysis import Stream, endpoint_text
from lab.capture.annotate import Annotated
from lab.capture.explain import format_duration

STEP_STYLES = {"SYN 1/3": "bold green", "SYN-ACK 2/3": "bold green", "ACK 3/3": "bold green",
               "FIN": "bold yellow", "RST": "bold red", "data": "cyan", "datagram": "magenta"}
NOTE_INDENT = 6

LEGEND = ("flags: S SYN, A ACK, F FIN, R RST, P PSH; seq/ack: relative numbers (as Wireshark shows "
          "them); len: payload bytes; win: the receive window in bytes, scaled by the factor from the SYNs "
          "(? = the SYNs were not captured, so the raw field, as tshark shows it).")


def _style(ann: Annotated) -> str:
    if ann.analysis:
        return "bold red" if any("retrans" in a or "lost" in a for a in ann.analysis) else "bold magenta"
    if "F" in ann.flags:
        return "bold yellow"
    if "R" in ann.flags:
        return "bold red"
    return STEP_STYLES.get(ann.step, "")


def _label(host: str, port: int, names: dict | None) -> str:
    name = (names or {}).get(port)
    return f"{name}:{port}" if name else endpoint_text((host, port))


@dataclass
class Column:
    """One column of a NotedTable: its header, alignment, and whether it may move into the note."""

    header: str
    justify: str = "right"   # "left" or "right"
    movable: bool = False    # when the line is too wide, this column's value goes into the note


@dataclass
class Row:
    """One row: the values (in column order), the note under them, a style for the values."""

    cells: list
    note: str = ""
    style: str = ""
    note_style: str = ""
    compact: dict = field(default_factory=dict)   # column index -> shorter form of a movable value


class NotedTable:
    """Rows of aligned values, each with its note wrapped underneath: readable at any width.

    ``columns`` and ``rows`` are plain data (for an HTML view); printing it
    with rich lays it out for the console's width.  ``widths`` may be shared
    between tables printed one after another (a live capture, batch by
    batch): columns then only ever grow, so the batches stay aligned.
    """

    def __init__(self, columns: list[Column], rows: list[Row], title: str | None = None, header: bool = True,
                 legend: str | None = None, widths: dict | None = None):
        self.columns, self.rows, self.title, self.header, self.legend = columns, rows, title, header, legend
        self.widths = widths if widths is not None else {}

    def _layout(self, width: int) -> tuple[list[int], str]:
        """The columns to show and how movable columns are shown: "full", "compact" or "note"."""
        for mode in ("full", "compact", "note"):
            shown = [i for i, c in enumerate(self.columns) if not (c.movable and mode == "note")]
            for i in shown:
                values = [self.columns[i].header] + [
                    (row.compact.get(i, row.cells[i]) if mode == "compact" else row.cells[i]) for row in self.rows]
                self.widths[(i, mode)] = max([self.widths.get((i, mode), 0)] + [len(v) for v in values])
            total = sum(self.widths[(i, mode)] for i in shown) + len(shown) - 1
            if total <= width or mode == "note":
                return shown, mode
        raise AssertionError("unreachable")

    def _line(self, values: list[str], shown: list[int], mode: str) -> str:
        out = []
        for i, value in zip(shown, values):
            w = self.widths[(i, mode)]
            out.append(value.rjust(w) if self.columns[i].justify == "right" else value.ljust(w))
        return " ".join(out).rstrip()

    @staticmethod
    def _wrapped(console, text: str, style: str, width: int, indent: int):
        """``text`` wrapped to ``width``, each line indented and without trailing spaces (clean when piped)."""
        from rich.text import Text

        for line in Text(text, style=style).wrap(console, max(20, width - indent)):
            line.rstrip()
            yield Text(" " * indent) + line

    def __rich_console__(self, console, options):
        from rich.text import Text

        width = options.max_width
        shown, mode = self._layout(width)
        if self.title:
            yield Text(self.title, style="bold")
        if self.header:
            yield Text(self._line([self.columns[i].header for i in shown], shown, mode), style="bold underline",
                       no_wrap=True, overflow="ignore")
        for row in self.rows:
            cells = [row.compact.get(i, row.cells[i]) if mode == "compact" else row.cells[i] for i in shown]
            yield Text(self._line(cells, shown, mode), style=row.style, overflow="fold")
            note = row.note
            if mode == "note":
                moved = [row.cells[i] for i, c in enumerate(self.columns) if c.movable and row.cells[i]]
                note = "  ".join(moved) + (": " if moved and note else "") + note
            if note:
                yield from self._wrapped(console, note, row.note_style, width, NOTE_INDENT)
        if self.legend:
            yield from self._wrapped(console, self.legend, "italic", width, 0)


PACKET_COLUMNS = [Column("#"), Column("time"), Column("strm"), Column("from → to", "left", movable=True),
                  Column("flags", "left"), Column("seq"), Column("ack"), Column("len"), Column("win")]


def packet_row(ann: Annotated, t0: float, names: dict | None = None) -> Row:
    """One packet as a Row of PACKET_COLUMNS, with its explanation as the note."""
    s = ann.segment
    tcp = s.proto == "tcp"
    window = ""
    if tcp and ann.tcp is not None and ann.tcp.window_size is not None:
        window = f"{ann.tcp.window_size}{'?' if ann.tcp.scale_unknown else ''}"
    cells = [str(s.number), f"{s.time - t0:.6f}", f"{s.proto}{ann.stream}",
             f"{_label(s.src, s.sport, names)} → {_label(s.dst, s.dport, names)}",
             ann.flags if tcp else "UDP", str(ann.seq) if tcp else "",
             str(ann.ack) if tcp and "A" in ann.flags else "", str(s.length), window]
    return Row(cells, ann.annotation, _style(ann), _style(ann) if ann.analysis else "",
               compact={3: f"{s.sport}→{s.dport}"})


def packet_table(annotated: list[Annotated], title: str | None = None, t0: float | None = None,
                 names: dict | None = None, header: bool = True, legend: bool = True,
                 widths: dict | None = None) -> NotedTable:
    """The packet table: per packet one line of numbers (frame, time since ``t0``, stream,
    endpoints, flags, relative seq/ack, length, scaled window) and its explanation under it.

    ``names`` maps a port to a label (e.g. the chat name of the client using
    that ephemeral port) shown beside the address.
    """
    if annotated and t0 is None:
        t0 = annotated[0].segment.time
    rows = [packet_row(ann, t0 or 0.0, names) for ann in annotated]
    return NotedTable(PACKET_COLUMNS, rows, title, header, LEGEND if legend and rows else None, widths)


def stream_table(annotated: list[Annotated], t0: float, header: bool, widths: dict | None = None) -> NotedTable:
    """A batch of the live view (`chatlab sniff`): the packet table without title or legend."""
    return packet_table(annotated, t0=t0, header=header, legend=False, widths=widths)


SUMMARY_COLUMNS = [Column("strm"), Column("client (ephemeral port)", "left"), Column("server", "left"),
                   Column("secs"), Column("pkts"), Column("bytes c→s"), Column("bytes s→c"), Column("retr")]


def summary_table(streams: list[Stream], title: str = "Connections", names: dict | None = None) -> NotedTable:
    """Per connection: addresses and ports (and protocol), ephemeral port, duration, packets,
    bytes each way, retransmissions; under it, the handshake and how it ended."""
    rows = []
    for st in streams:
        s = st.summary()
        ended = s["ended"]
        style = "red" if "RST" in ended else "yellow" if "FIN" in ended else ""
        if st.proto == "tcp":
            note = f"handshake {s['handshake']}; ended: {ended}"
        else:
            note = "UDP: no handshake, no connection, nothing ends it"
        rows.append(Row([f"{s['proto']}{s['stream']}", _label(*st.client, names), s["server"], f"{s['duration']:.3f}",
                         str(s["packets"]), str(s["bytes_client_to_server"]), str(s["bytes_server_to_client"]),
                         str(s["retransmissions"])], note, note_style=style))
    return NotedTable(SUMMARY_COLUMNS, rows, title)


# -- ladder diagrams -------------------------------------------------------------------

LADDER_LEGEND = ("Each packet: its label above, its arrow below, time since the connection's first packet on "
                 "the left. S SYN, A ACK, F FIN, R RST, P PSH; seq/ack relative; ack= only when the ACK flag is "
                 "set; len payload bytes; [..] Wireshark's analysis.")


def _rows_of(annotated: list[Annotated], stream: Stream) -> list[Annotated]:
    return [a for a in annotated if a.stream == stream.index and a.segment.proto == stream.proto]


def packet_label(ann: Annotated) -> str:
    """The label of one packet in a ladder: flags, seq, ack (only with the ACK flag), len, analysis."""
    s = ann.segment
    if s.proto == "tcp":
        label = f"{ann.flags} seq={ann.seq}" + (f" ack={ann.ack}" if "A" in ann.flags else "")
        if s.length:
            label += f" len={s.length}"
    else:
        label = f"UDP len={s.length}"
    if ann.analysis:
        label += " [" + ", ".join(a.replace("_", " ") for a in ann.analysis) + "]"
    return label


def _times(rows: list[Annotated]) -> list[str]:
    t0 = rows[0].segment.ts_ns if rows else 0
    return [format_duration((a.segment.ts_ns - t0) / 1e9) for a in rows]


def ladder_lines(annotated: list[Annotated], stream: Stream, width: int = 72, names: dict | None = None) -> list[str]:
    """A text ladder (sequence) diagram of one connection: client left, server right.

    Two lines per packet: the label (on the sender's side, with the chat
    text it carries), then the arrow, with the time since the connection's
    first packet in front.  The last line is the legend.
    """
    rows = _rows_of(annotated, stream)
    times = _times(rows)
    gutter = max([9] + [len(t) for t in times]) + 1
    span = max(30, width - gutter - 2)          # between the two | bars
    left = f"client {_label(*stream.client, names)}"
    right = _label(*stream.server, names)
    right = right if right.startswith("server") else f"server {right}"
    out = [" " * gutter + left + right.rjust(span + 2 - len(left))]
    for ann, when in zip(rows, times):
        label = packet_label(ann)
        if ann.text:
            label += '  "' + " / ".join(ann.text) + '"'
        room = span - 2
        if len(label) > room:   # cut the chat text, never the numbers
            keep = packet_label(ann)
            label = label[:room - 3] + "..." if len(keep) <= room - 3 else label
        inner = f" {label}".ljust(span) if ann.role == "client" else f"{label} ".rjust(span)
        out.append(" " * gutter + "|" + inner + "|")
        arrow = ("-" * (span - 1) + ">") if ann.role == "client" else ("<" + "-" * (span - 1))
        out.append(when.rjust(gutter - 1) + " |" + arrow + "|")
    out.append(LADDER_LEGEND)
    return out


def ladder(annotated: list[Annotated], stream: Stream, width: int = 72, names: dict | None = None):
    """The ladder diagram as a rich renderable, colored by packet kind."""
    from rich.text import Text

    rows = _rows_of(annotated, stream)
    lines = ladder_lines(annotated, stream, width, names)
    text = Text(lines[0] + "\n", style="bold", no_wrap=True)
    for i, ann in enumerate(rows):
        style = _style(ann) or "white"
        text.append(lines[1 + 2 * i] + "\n", style=style)
        text.append(lines[2 + 2 * i] + "\n", style=style)
    text.append(lines[-1] + "\n", style="italic")
    return text


LADDER_COLORS = {"bold green": "green", "bold yellow": "orange", "bold red": "red", "cyan": "tab:blue",
                 "bold magenta": "purple", "magenta": "purple"}
LADDER_KINDS = (("handshake (SYN, SYN-ACK, ACK 3/3)", "green"), ("data", "tab:blue"), ("FIN", "orange"),
                ("RST, retransmission, lost segment", "red"), ("other Wireshark analysis", "purple"),
                ("ACK", "gray"))


def ladder_figure(annotated: list[Annotated], stream: Stream, ax=None):
    """A matplotlib ladder diagram of one connection (for notebooks); returns the Figure.

    Each arrow goes from the sender's line down to the receiver's; its label
    sits above it, parallel to it (never on it); times since the first packet
    in µs/ms/s on the left; a legend explains the colors.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = _rows_of(annotated, stream)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 2.2))
    else:
        fig = ax.figure
    ax.set_xlim(-0.22, 1.05)
    ax.set_ylim(len(rows) + 0.4, -1.0)
    ax.axvline(0, color="black")
    ax.axvline(1, color="black")
    header = dict(ha="center", va="bottom", fontsize=9, weight="bold",
                  bbox=dict(facecolor="white", edgecolor="none", pad=1))   # the lines pass behind, not through
    ax.text(0, -0.75, f"client\n{endpoint_text(stream.client)}", **header)
    ax.text(1, -0.75, f"server\n{endpoint_text(stream.server)}", **header)
    handles = [Line2D([0], [0], color=color, lw=2) for _, color in LADDER_KINDS]
    ax.legend(handles, [name for name, _ in LADDER_KINDS], loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=3, fontsize=8, frameon=False)
    ax.axis("off")
    ax.set_title(f"{stream.proto.upper()} stream {stream.index}: {stream.summary()['ended']}")
    fig.tight_layout()   # first: the labels' angles depend on the final shape of the axes
    for i, (ann, when) in enumerate(zip(rows, _times(rows))):
        y0, y1 = i, i + 0.7
        x0, x1 = (0, 1) if ann.role == "client" else (1, 0)
        color = LADDER_COLORS.get(_style(ann), "gray")
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=1.3))
        # The label, parallel to the arrow on the screen and lifted above it by a few points.
        ax.annotate(packet_label(ann), xy=(0.5, (y0 + y1) / 2), xytext=(0, 5), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8, color=color,
                    rotation=_screen_angle(ax, (x0, y0), (x1, y1)), rotation_mode="anchor")
        ax.text(-0.03, y0, when, ha="right", va="center", fontsize=7)
    ax.text(-0.03, -0.35, "time", ha="right", va="center", fontsize=7, style="italic")
    return fig


def _screen_angle(ax, start: tuple[float, float], end: tuple[float, float]) -> float:
    """The angle of the line start -> end as drawn on the screen, kept upright (between -90 and 90)."""
    import math

    (x0, y0), (x1, y1) = ax.transData.transform([start, end])
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    return angle
