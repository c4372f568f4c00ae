"""Notebook helpers: plot the experiment's result (matplotlib, imported lazily)."""

from __future__ import annotations


def plot_compare(results: dict, axes=None):
    """Plot a compare result with matplotlib: counts side by side, then latency percentiles.

    One colour per row that ran (TCP, UDP, reliable UDP).  Returns the
    matplotlib Figure.  ``axes`` may be a pair of Axes to draw on.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig = axes[0].figure
    protos = [p for p in ("tcp", "udp", "reliable") if "sent" in results.get(p, {})]
    colors = {"tcp": "tab:blue", "udp": "tab:orange", "reliable": "tab:green"}
    labels = {"tcp": "TCP", "udp": "UDP", "reliable": "reliable UDP"}
    counts = ["delivered", "lost", "duplicated", "out_of_order"]
    if any(results[proto].get("in_flight") for proto in protos):  # TCP cut short by a backed-off timer
        counts.insert(2, "in_flight")

    def count(half: dict, name: str) -> int:
        return (half.get("in_flight") or {}).get("messages", 0) if name == "in_flight" else half[name]

    width = 0.8 / max(1, len(protos))
    for k, proto in enumerate(protos):
        xs = [i + k * width for i in range(len(counts))]
        bars = axes[0].bar(xs, [count(results[proto], c) for c in counts], width, label=labels[proto],
                           color=colors[proto])
        axes[0].bar_label(bars, fontsize=8)
    axes[0].set_xticks([i + width * (len(protos) - 1) / 2 for i in range(len(counts))])
    axes[0].set_xticklabels([c.replace("_", " ") for c in counts])
    sent = results[protos[0]]["sent"] if protos else 0
    axes[0].set_title(f"{sent} messages, {results['loss']} % loss per router crossing")
    marks = ["p50", "p90", "p99", "max"]
    for k, proto in enumerate(protos):
        lat = results[proto]["latency_ms"]
        xs = [i + k * width for i in range(len(marks))]
        axes[1].bar(xs, [lat[m] or 0 for m in marks], width, label=labels[proto], color=colors[proto])
    axes[1].set_xticks([i + width * (len(protos) - 1) / 2 for i in range(len(marks))])
    axes[1].set_xticklabels(marks)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("latency of delivered messages (ms, log scale)")
    axes[1].set_title("latency: repair means waiting for retransmissions" if len(protos) > 1 else "latency")
    # One legend above both plots: inside an axes it covered the tallest bar
    # (TCP's "max" latency, TCP's "delivered").
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(protos), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def three_rows(results: dict) -> list[dict]:
    """The experiment's rows (TCP, UDP, reliable UDP) as dicts, for a notebook table (lab.notebook.table).

    Columns: delivered, in order, latency p50 / max, retransmissions (TCP:
    counted on the wire when captured, else TCP_INFO; reliable UDP: its
    sender's count) and, when the router captured, the packets it saw.  A
    row that did not run says "skipped" (the experiment's note says why);
    a TCP row recorded in another run (lesson 6 without root) says so.
    """
    rows = []
    captured = any("wire" in results.get(key, {}) for key in ("tcp", "udp", "reliable"))
    columns = ["protocol", "delivered", "in order", "latency p50 / max (ms)", "retransmissions"]
    columns += ["packets the router saw"] if captured else []
    tcp_name = "TCP (RECORDED run)" if results.get("tcp_recorded") else "TCP"
    for key, name in (("tcp", tcp_name), ("udp", "UDP"), ("reliable", "reliable UDP")):
        half = results.get(key, {})
        if "sent" not in half:
            rows.append({column: "-" for column in columns} | {"protocol": name, "delivered": "skipped"})
            continue
        lat = half["latency_ms"]
        in_flight = (half.get("in_flight") or {}).get("messages")
        row = {"protocol": name, "delivered": f"{half['delivered']} / {half['sent']}"
                                              + (f" ({in_flight} in flight)" if in_flight else ""),
               "in order": "yes" if half["out_of_order"] == 0 and half["duplicated"] == 0 else "no",
               "latency p50 / max (ms)": " / ".join("-" if v is None else f"{v:.1f}" for v in (lat["p50"], lat["max"])),
               "retransmissions": "none" if key == "udp" else half.get("retransmissions", "-")}
        if captured:
            row["packets the router saw"] = half.get("wire", {}).get("packets", "-")
        rows.append(row)
    return rows
