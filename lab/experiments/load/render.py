"""The rich table `chatlab load` prints (``--json`` prints the dict instead)."""

from __future__ import annotations


def _num(value, fmt="{:,}") -> str:
    return "-" if value is None else fmt.format(value)


def render(report: dict, console) -> None:
    """Print a load report as a rich table on ``console``."""
    from rich.table import Table

    cfg = report["config"]
    lat = report["latency_ms"]
    con = report["connect"]
    stalled = report["stalled"]
    table = Table(title=f"chatlab load -> {report['target']['host']} port {report['target']['port']}",
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("load", f"{cfg['clients']} clients, {cfg['senders']} senders x {cfg['rate']:g} msg/s "
                  f"for {cfg['duration']:g} s" + (f", {cfg['stalled']} stalled" if cfg["stalled"] else "")
                  + (f", messages of {cfg['size']:,} bytes" if cfg["size"] else ""))
    connected = (f"{con['registered']:,} of {con['clients']:,} in {con['seconds']:.1f} s "
                 f"(p50 {_num(con['p50_ms'], '{:.1f}')} ms, max {_num(con['max_ms'], '{:.1f}')} ms)")
    if con["failed"]:
        connected += f", [red]{con['failed']} failed[/red]"
    table.add_row("connected", connected)
    if con.get("bots") == con["registered"]:
        table.add_row("history", "every client sent /bot: the server keeps their messages out of its history")
    else:
        table.add_row("history", f"[yellow]{con['registered'] - con.get('bots', 0):,} clients not marked as bots "
                      "(the server has no /bot): their messages enter its history, and newcomers get them[/yellow]")
    for name, error in con["failures"][:3]:
        table.add_row("", f"[red]{name}: {error}[/red]")
    table.add_row("sent", f"{report['messages_sent']:,} messages")
    reach = report["reach"]
    style = "green" if reach == 1 else "red"
    table.add_row("reach", f"[{style}]{_num(reach, '{:.4f}')}[/{style}]  ({report['delivered']:,} of "
                  f"{report['expected']:,} deliveries; {report['receivers_incomplete']} of {report['receivers']} "
                  f"receivers missed some)")
    table.add_row("deliveries/s", _num(report["deliveries_per_s"], "{:,.0f}"))
    table.add_row("duplicates", _styled_count(report["duplicates"]))
    table.add_row("out of order", _styled_count(report["out_of_order"]))
    table.add_row("latency", f"p50 {_num(lat['p50'], '{:.2f}')} ms   p99 {_num(lat['p99'], '{:.2f}')} ms   "
                  f"max {_num(lat['max'], '{:.2f}')} ms   ({lat['samples']:,} samples from {lat['timed_receivers']:,} "
                  f"timed receivers; to the {lat['clock']})")
    if report["timeline"]:
        worst = max(report["timeline"], key=lambda e: e["max_ms"])
        fewest = min(report["timeline"][1:-1] or report["timeline"], key=lambda e: e["deliveries"])
        table.add_row("second by second", f"slowest delivery in second {worst['t']} ({worst['max_ms']:.1f} ms); "
                      f"fewest deliveries in second {fewest['t']} ({fewest['deliveries']:,}); --json has them all")
    lag = report["read_lag_ms"]
    table.add_row("our read lag", f"up to {_num(lag['p99'], '{:.2f}')} ms (p99; max {_num(lag['max'], '{:.2f}')} ms): "
                  "the time this load generator took to read everything that was ready at once "
                  "(not in the latency when it is measured to the kernel's receive time)")
    closed = report["closed_by_server"]
    if closed["count"]:
        table.add_row("closed by server", f"[red]{closed['count']}[/red] healthy clients, e.g. "
                      + "; ".join(f"{n}: {e}" for n, e in closed["examples"][:2]))
    if stalled["count"]:
        if stalled["dropped"]:
            text = "; ".join(f"{n} left ({why})" for n, why in stalled["dropped"])
        else:
            text = "[yellow]never dropped by the server (it still holds their backlog, or froze)[/yellow]"
        table.add_row("stalled", f"{stalled['registered']} registered; {text}")
    cpu = report["load_cpu"]
    table.add_row("load generator CPU", f"{_num(cpu['cores'], '{:.2f}')} cores ({cpu['user_s']:.1f} s user + "
                  f"{cpu['system_s']:.1f} s kernel over the sending window) in {cpu['processes']} process(es): "
                  "chatlab load's own CPU, not the server's")
    if report["workers_reported"] < cpu["processes"]:
        table.add_row("warning", f"[red]only {report['workers_reported']} of {cpu['processes']} worker processes reported[/red]")
    console.print(table)
    if report.get("verdict"):
        console.print(explain_verdict(report))


def explain_verdict(report: dict):
    """The verdict on the stalled clients as a paragraph (rich Text): what happened, why, how to see it."""
    from rich.text import Text

    verdict, stalled = report["verdict"], report["stalled"]
    port, duration = report["target"]["port"], report["config"]["duration"]
    unread = stalled.get("unread_bytes", {})
    kept = verdict["kept"]
    who = ", ".join(kept) or "the stalled client"
    left = "; ".join(f"{name} has {unread[name]:,} bytes unread" for name in kept if name in unread)
    text = Text()
    if verdict["state"] == "frozen":
        last = verdict["last_delivery_second"]
        when = "from the start" if last is None else f"after second {last} of {duration:g}"
        text.append("FROZEN: ", style="bold red")
        text.append(
            f"{when} no client received anything more, although only {who} stopped reading, and the server "
            f"never dropped {'it' if len(kept) == 1 else 'them'}"
            + (f" ({left}: its receive buffer is full, so its TCP advertises a zero window)" if left else "")
            + ". That is what a server does that calls a blocking sendall() while it holds a lock (the tutorial "
              f"design, lab/tcp/naive_server.py): the thread sending to {kept[0] if kept else 'it'} blocks once "
              "the kernel's send buffer for that connection is full, and every other thread waits for the lock. "
              f"See it while it lasts: `ss -tn 'sport = :{port}'` (that connection keeps a full Send-Q, and the "
              "senders' connections a growing Recv-Q: nobody reads them any more) and "
              f"`chatlab sniff --port {port}` (the server's zero-window probes).")
    elif verdict["state"] == "dropped":
        reasons = "; ".join(f"{name} ({why})" for name, why in stalled["dropped"])
        in_order = report["duplicates"] == 0 and report["out_of_order"] == 0
        text.append("HEALTHY: ", style="bold green")
        text.append(f"the server dropped the stalled client{'s' if len(stalled['dropped']) > 1 else ''} "
                    f"{reasons} and every other client received every message"
                    + (", once and in order." if in_order else "."))
    elif verdict["state"] == "absorbing":
        text.append("Not frozen (yet): ", style="bold yellow")
        text.append(f"{who} stopped reading, but the server still buffers the backlog"
                    + (f" ({left})" if left else "") + " and everyone else received everything. More --senders, "
                    "a bigger --size or a longer --duration fill the buffers sooner.")
    else:
        text.append("Degraded: ", style="bold yellow")
        text.append(f"some messages did not arrive (reach {report['reach']:.4f}) but deliveries did not stop for "
                    "good; the second-by-second timeline (--json) shows when.")
    return text


def _styled_count(n: int) -> str:
    return "[green]0[/green]" if n == 0 else f"[red]{n:,}[/red]"
