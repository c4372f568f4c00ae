"""Views of annotated packets: a rich table, a ladder diagram, connection summaries.

Rendering only: everything shown comes from lab.capture.annotate.  rich is
imported inside the functions; matplotlib only by :func:`ladder_figure`.
Styles are chosen to stay readable on a projector (no dim text for content).
"""

from __future__ import annotations

from lab.capture.analysis import Stream
from lab.capture.annotate import Annotated

STEP_STYLES = {"SYN 1/3": "bold green", "SYN-ACK 2/3": "bold green", "ACK 3/3": "bold green",
               "FIN": "bold yellow", "RST": "bold red", "data": "cyan", "datagram": "magenta"}


def _style(ann: Annotated) -> str:
    if ann.analysis:
        return "bold red" if any("retrans" in a or "lost" in a for a in ann.analysis) else "bold magenta"
    if "F" in ann.flags:
        return "bold yellow"
    if "R" in ann.flags:
        return "bold red"
    return STEP_STYLES.get(ann.step, "")


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def packet_table(annotated: list[Annotated], title: str | None = None, t0: float | None = None,
                 names: dict | None = None):
    """A rich Table: one row per packet with time, endpoints, flags, seq/ack, length, meaning.

    ``names`` maps a port to a label (e.g. the chat name of the client using that
    ephemeral port) shown beside the address.
    """
    from rich.table import Table

    table = Table(title=title, show_lines=False, expand=True, title_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("stream", justify="right", no_wrap=True)
    table.add_column("from → to", no_wrap=True)
    table.add_column("flags", no_wrap=True)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("ack", justify="right", no_wrap=True)
    table.add_column("len", justify="right", no_wrap=True)
    table.add_column("what it means", ratio=1)
    if annotated and t0 is None:
        t0 = annotated[0].segment.time
    for ann in annotated:
        add_packet_row(table, ann, t0 or 0.0, names)
    return table


def stream_table(annotated: list[Annotated], t0: float, header: bool):
    """A live view printed batch after batch: per packet one aligned line of fields and,
    indented below it, the sentence (full width, so it stays readable on a projector)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    parts = []
    if header:
        parts.append(Text(f"{'#':>5} {'time':>9} {'stream':>6}  {'from → to':<44} {'flags':<5} "
                          f"{'seq':>10} {'ack':>10} {'len':>5}", style="bold underline"))
    for ann in annotated:
        s = ann.segment
        tcp = s.proto == "tcp"
        line = Text(f"{s.number:>5} {s.time - t0:>9.6f} {s.proto + str(ann.stream):>6}  "
                    f"{_endpoint(s.src, s.sport) + ' → ' + _endpoint(s.dst, s.dport):<44} ")
        line.append(f"{(ann.flags if tcp else 'UDP'):<5}", style=_style(ann))
        line.append(f" {(str(ann.seq) if tcp else ''):>10} {(str(ann.ack) if tcp and 'A' in ann.flags else ''):>10}"
                    f" {s.length:>5}")
        parts.append(line)
        parts.append(Padding(Text(ann.annotation, style=_style(ann) if ann.analysis else ""), (0, 0, 0, 8)))
    return Group(*parts)


def _label(host: str, port: int, names: dict | None) -> str:
    name = (names or {}).get(port)
    return f"{name}:{port}" if name else _endpoint(host, port)


def add_packet_row(table, ann: Annotated, t0: float, names: dict | None = None) -> None:
    """Append one packet to a table made by packet_table() (used by the live view)."""
    from rich.text import Text

    s = ann.segment
    tcp = s.proto == "tcp"
    table.add_row(
        str(s.number), f"{s.time - t0:.6f}", f"{s.proto}{ann.stream}",
        Text(f"{_label(s.src, s.sport, names)} → {_label(s.dst, s.dport, names)}"),
        Text(ann.flags if tcp else "UDP", style=_style(ann)),
        str(ann.seq) if tcp else "", str(ann.ack) if tcp and "A" in ann.flags else "",
        str(s.length), Text(ann.annotation, style=_style(ann) if ann.analysis else ""),
    )


def ladder_lines(annotated: list[Annotated], stream: Stream, width: int = 72, names: dict | None = None) -> list[str]:
    """A text ladder (sequence) diagram of one connection: client left, server right."""
    rows = [a for a in annotated if a.stream == stream.index and a.segment.proto == stream.proto]
    left = f"client {_label(*stream.client, names)}"
    right = _label(*stream.server, names)
    right = right if right.startswith("server") else f"server {right}"
    span = max(30, width - 12)
    out = [f"{'':>10} {left}{right:>{span - len(left) + 2}}"]
    t0 = rows[0].segment.time if rows else 0.0
    for ann in rows:
        s = ann.segment
        if s.proto == "tcp":
            label = f"{ann.flags} seq={ann.seq}" + (f" ack={ann.ack}" if "A" in ann.flags else "")
            if s.length:
                label += f" len={s.length}"
        else:
            label = f"UDP len={s.length}"
        if ann.analysis:
            label += " [" + ",".join(a.replace("_", " ") for a in ann.analysis) + "]"
        inner = span - 4
        label = f" {label} " if len(label) + 2 <= inner else f" {label[:inner - 5]}... "
        if ann.role == "client":
            arrow = "|" + label.center(inner, "-") + "->|"
        else:
            arrow = "|<-" + label.center(inner, "-") + "|"
        out.append(f"{s.time - t0:>10.6f} {arrow}")
        if ann.text:
            text = " / ".join(ann.text)
            out.append(f"{'':>10} |  {text[:span - 6]:<{span - 3}}|")
    return out


def ladder(annotated: list[Annotated], stream: Stream, width: int = 72, names: dict | None = None):
    """The ladder diagram as a rich renderable, colored by packet kind."""
    from rich.text import Text

    rows = [a for a in annotated if a.stream == stream.index and a.segment.proto == stream.proto]
    lines = ladder_lines(annotated, stream, width, names)
    text = Text(lines[0] + "\n", style="bold")
    i = 1
    for ann in rows:
        text.append(lines[i] + "\n", style=_style(ann) or "white")
        i += 1
        if ann.text:
            text.append(lines[i] + "\n", style="italic")
            i += 1
    return text


def summary_table(streams: list[Stream], title: str = "Connections", names: dict | None = None):
    """Per-connection summary: 4-tuple, ephemeral port, duration, bytes, how it ended."""
    from rich.table import Table

    table = Table(title=title, title_style="bold", expand=True)
    for col, justify in (("stream", "right"), ("client (eph. port)", "left"), ("server", "left"),
                         ("handshake", "left"), ("secs", "right"), ("pkts", "right"),
                         ("bytes c→s", "right"), ("bytes s→c", "right"), ("retrans", "right"), ("ended", "left")):
        table.add_column(col, justify=justify, no_wrap=col not in ("ended", "handshake"),
                         ratio=1 if col == "ended" else None, min_width=12 if col == "ended" else None)
    for st in streams:
        s = st.summary()
        ended = s["ended"]
        style = "red" if "RST" in ended else "yellow" if "FIN" in ended else ""
        table.add_row(f"{s['proto']}{s['stream']}", _label(*st.client, names), s["server"],
                      s["handshake"] if st.proto == "tcp" else "none (UDP)", f"{s['duration']:.3f}",
                      str(s["packets"]), str(s["bytes_client_to_server"]), str(s["bytes_server_to_client"]),
                      str(s["retransmissions"]), ended if st.proto == "tcp" else "(no connection)",
                      style=style)
    return table


def ladder_figure(annotated: list[Annotated], stream: Stream, ax=None):
    """A matplotlib ladder diagram of one connection (for notebooks); returns the Figure."""
    import matplotlib.pyplot as plt

    rows = [a for a in annotated if a.stream == stream.index and a.segment.proto == stream.proto]
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    else:
        fig = ax.figure
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(len(rows) + 0.5, -0.8)
    ax.axvline(0, color="black")
    ax.axvline(1, color="black")
    ax.text(0, -0.6, f"client\n{_endpoint(*stream.client)}", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.text(1, -0.6, f"server\n{_endpoint(*stream.server)}", ha="center", va="bottom", fontsize=9, weight="bold")
    t0 = rows[0].segment.time if rows else 0.0
    colors = {"bold green": "green", "bold yellow": "orange", "bold red": "red", "cyan": "tab:blue",
              "bold magenta": "purple", "magenta": "purple"}
    for i, ann in enumerate(rows):
        y0, y1 = i, i + 0.8
        x0, x1 = (0, 1) if ann.role == "client" else (1, 0)
        color = colors.get(_style(ann), "gray")
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color=color))
        s = ann.segment
        label = (f"{ann.flags} seq={ann.seq} ack={ann.ack} len={s.length}" if s.proto == "tcp" else f"UDP len={s.length}")
        if ann.analysis:
            label += "  [" + ", ".join(ann.analysis) + "]"
        ax.text(0.5, (y0 + y1) / 2 - 0.12, label, ha="center", fontsize=8, color=color,
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
        ax.text(-0.02, y0, f"{s.time - t0:.4f}s", ha="right", fontsize=7)
    ax.axis("off")
    ax.set_title(f"{stream.proto.upper()} stream {stream.index}: {stream.summary()['ended']}")
    return fig
