"""`chatlab sniff`: capture the chat's packets and explain each one (live or from a pcap)."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "capture the chat's packets and annotate them (live or from a pcap)"
DESCRIPTION = (
    "Capture TCP/UDP packets of the chat on an interface (default lo) and explain every one: "
    "the three-way handshake, data, ACKs, FIN, RST and Wireshark's TCP analysis. "
    "--read annotates a saved pcap/pcapng instead. --json prints one JSON object per packet "
    "(the stable format of docs/CAPTURE.md). --read FILE --graph tcptrace|throughput|rtt --out F.png "
    "draws a graph of one connection instead."
)
GRAPHS = ("tcptrace", "throughput", "rtt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab sniff`: what to capture (or --read), where to write, how to show it."""
    from lab.commands import options

    parser.add_argument("--port", type=options.PORT, default=None,
                        help="only packets to or from this port, 1-65535 (default: all)")
    parser.add_argument("--iface", default="lo", help="interface to capture on (default: lo)")
    parser.add_argument("--netns", default=None, help="capture inside this network namespace (ip netns)")
    parser.add_argument("--write", metavar="FILE", help="also save the captured packets to this pcap file")
    parser.add_argument("--read", metavar="FILE", help="annotate a pcap/pcapng file instead of capturing")
    parser.add_argument("--json", action="store_true", help="one JSON object per packet on stdout")
    parser.add_argument("--count", type=options.whole("a packet count", 0, note="0: no limit"), default=0,
                        metavar="N", help="stop after this many packets (0: no limit)")
    parser.add_argument("--duration", type=options.seconds("a duration", zero="until Ctrl-C"), default=0,
                        metavar="SECONDS", help="stop after this many seconds (0: Ctrl-C)")
    parser.add_argument("--graph", choices=GRAPHS, default=None,
                        help="with --read: draw the time-sequence (tcptrace), throughput or RTT graph of one "
                             "connection into a PNG file")
    parser.add_argument("--out", metavar="FILE.png", default=None,
                        help="with --graph: the PNG file to write (default: CAPTURE-GRAPH.png beside the capture)")
    parser.add_argument("--stream", type=options.whole("a stream number", 0), default=None, metavar="N",
                        help="with --graph: the TCP stream to draw (tcp.stream; default: the one with the most data)")


def _read(args) -> int:
    from rich.console import Console

    from lab.capture import annotate_with_streams, read_pcap, to_json
    from lab.capture.files import CaptureFileError
    from lab.capture.render import packet_table, summary_table

    try:
        segments = read_pcap(args.read)
    except (OSError, CaptureFileError) as exc:
        print(f"chatlab sniff: cannot read {args.read}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 1
    if args.port is not None:
        segments = [s for s in segments if args.port in (s.sport, s.dport)]
    annotated, streams = annotate_with_streams(segments, {args.port} if args.port else None)
    if args.graph:
        return _graph(args, annotated, streams)
    if args.count:
        annotated = annotated[:args.count]
    if args.json:
        for ann in annotated:
            sys.stdout.write(to_json(ann) + "\n")
        return 0
    console = Console()
    console.print(packet_table(annotated, title=f"{args.read}: {len(annotated)} packets"))
    console.print(summary_table(streams))
    return 0


def _graph(args, annotated, streams) -> int:
    """Draw one graph of one connection into a PNG file."""
    from pathlib import Path

    try:
        import matplotlib
    except ImportError:
        print("chatlab sniff: --graph needs matplotlib: .venv/bin/pip install matplotlib", file=sys.stderr)
        return 2
    matplotlib.use("Agg")   # a file, no window: works without a display
    import matplotlib.pyplot as plt

    from lab.capture import graphs

    tcp = [s for s in streams if s.proto == "tcp"]
    if not tcp:
        print(f"chatlab sniff: {args.read} has no TCP connection to draw", file=sys.stderr)
        return 1
    if args.stream is None:
        stream = graphs.busiest(streams)
    else:
        found = [s for s in tcp if s.index == args.stream]
        if not found:
            print(f"chatlab sniff: {args.read} has no TCP stream {args.stream} (streams 0-{len(tcp) - 1})",
                  file=sys.stderr)
            return 1
        stream = found[0]
    draw = {"tcptrace": graphs.tcptrace, "throughput": graphs.throughput, "rtt": graphs.rtt}[args.graph]
    out = Path(args.out) if args.out else Path(args.read).with_name(f"{Path(args.read).stem}-{args.graph}.png")
    fig = draw(annotated, stream)
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        print(f"chatlab sniff: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        plt.close(fig)
    role = graphs.sender_role(annotated, stream)
    print(f"chatlab sniff: wrote {out}: {args.graph} graph of TCP stream {stream.index} ({role}'s data)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Capture and annotate until Ctrl-C, --count or --duration (or annotate --read FILE).

    0 when the capture ran and stopped normally (Ctrl-C and SIGTERM included),
    2 when capture cannot start (no permission: the line says how to grant it)
    or options conflict.
    """
    if args.read:
        return _read(args)
    if args.graph or args.out or args.stream is not None:
        print("chatlab sniff: --graph, --out and --stream draw a saved capture: add --read FILE "
              "(capture first with --write FILE)", file=sys.stderr)
        return 2
    from lab.capture import Annotator, to_json
    from lab.capture.sniffer import CaptureError, Sniffer
    from lab.commands.running import catch_stop_signals

    sniffer = Sniffer(iface=args.iface, port=args.port, netns=args.netns, keep=bool(args.write))
    # Ctrl-C and SIGTERM end the capture, with its summary, exit 0; caught before
    # start(), so that one arriving while the capture starts ends it the same way.
    stop, restore_signals = catch_stop_signals()
    try:
        sniffer.start()
    except CaptureError as exc:
        restore_signals()
        print(f"chatlab sniff: {exc}", file=sys.stderr)
        return 2
    annotator = Annotator({args.port} if args.port else None)
    deadline = time.monotonic() + args.duration if args.duration else None
    seen = 0
    # The capture runs from here on: say so on stderr (stdout stays the table, or pure
    # JSON), so that a user, or a script, knows when to start the traffic.
    what = f"port {args.port}" if args.port else "all TCP/UDP"
    print(f"chatlab sniff: capturing {what} on {args.iface}{' in netns ' + args.netns if args.netns else ''} "
          f"(filter in {sniffer.filter_mode}). Ctrl-C to stop.", file=sys.stderr, flush=True)
    if not args.json:
        from rich.console import Console

        console = Console(stderr=False)
    error = None
    t0: float | None = None
    widths: dict = {}   # shared by the batches: columns only grow, so the live table stays aligned
    try:
        from lab.capture.render import stream_table

        while not stop.is_set():
            if deadline and time.monotonic() >= deadline:
                break
            if not sniffer.running:
                break
            new = [annotator.feed(seg) for seg in sniffer.poll()]
            if args.count:
                new = new[:max(0, args.count - seen)]
            if args.json:
                for ann in new:
                    sys.stdout.write(to_json(ann) + "\n")
                sys.stdout.flush()
            elif new:
                # The live table grows batch by batch (printing, never redrawing,
                # so it scrolls like a log and stays readable on a projector).
                if t0 is None:
                    t0 = new[0].segment.time
                console.print(stream_table(new, t0, header=seen == 0, widths=widths))
            seen += len(new)
            if args.count and seen >= args.count:
                break
            time.sleep(0.1)
    finally:
        restore_signals()
        try:
            drops = sniffer.stop()
        except CaptureError as exc:
            error = exc
            drops = sniffer.drops
    # What the kernel still held when we stopped.
    tail = [annotator.feed(seg) for seg in sniffer.poll()]
    if args.count:
        tail = tail[:max(0, args.count - seen)]
    seen += len(tail)
    if args.json:
        for ann in tail:
            sys.stdout.write(to_json(ann) + "\n")
        sys.stdout.flush()
    else:
        from lab.capture.render import stream_table, summary_table

        if tail:
            console.print(stream_table(tail, t0 if t0 is not None else tail[0].segment.time,
                                       header=seen == len(tail), widths=widths))
        console.print(summary_table(annotator.streams))
        if seen:
            from lab.capture.render import LEGEND

            console.print(LEGEND, style="italic", highlight=False, markup=False)
    print(f"chatlab sniff: {seen} packets; dropped: {drops.kernel} in the kernel, {drops.queue} in the queue"
          + (f"; filter in {sniffer.filter_mode}" if args.port else ""), file=sys.stderr)
    if args.write:
        sniffer.write(args.write)
        print(f"chatlab sniff: wrote {len(sniffer.frames)} packets to {args.write}", file=sys.stderr)
    if error:
        print(f"chatlab sniff: {error}", file=sys.stderr)
        return 1
    return 0
