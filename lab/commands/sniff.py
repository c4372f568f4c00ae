"""`chatlab sniff`: capture the chat's packets and explain each one (live or from a pcap)."""

from __future__ import annotations

import argparse
import signal
import sys
import time

HELP = "capture the chat's packets and annotate them (live or from a pcap)"
DESCRIPTION = (
    "Capture TCP/UDP packets of the chat on an interface (default lo) and explain every one: "
    "the three-way handshake, data, ACKs, FIN, RST and Wireshark's TCP analysis. "
    "--read annotates a saved pcap/pcapng instead. --json prints one JSON object per packet "
    "(the stable format of docs/CAPTURE.md)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    if args.read:
        return _read(args)
    from lab.capture import Annotator, to_json
    from lab.capture.sniffer import CaptureError, Sniffer

    sniffer = Sniffer(iface=args.iface, port=args.port, netns=args.netns, keep=bool(args.write))
    try:
        sniffer.start()
    except CaptureError as exc:
        print(f"chatlab sniff: {exc}", file=sys.stderr)
        return 2
    stop = []
    previous = signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    annotator = Annotator({args.port} if args.port else None)
    deadline = time.monotonic() + args.duration if args.duration else None
    seen = 0
    if not args.json:
        from rich.console import Console

        console = Console(stderr=False)
        what = f"port {args.port}" if args.port else "all TCP/UDP"
        console.print(f"[bold]Capturing {what} on {args.iface}"
                      f"{' in netns ' + args.netns if args.netns else ''} "
                      f"(filter: {sniffer.filter_mode}). Ctrl-C to stop.[/bold]")
    error = None
    t0: float | None = None
    try:
        from lab.capture.render import stream_table

        while not stop:
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
                console.print(stream_table(new, t0, header=seen == 0))
            seen += len(new)
            if args.count and seen >= args.count:
                break
            time.sleep(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
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
            console.print(stream_table(tail, t0 if t0 is not None else tail[0].segment.time, header=seen == len(tail)))
        console.print(summary_table(annotator.streams))
    print(f"chatlab sniff: {seen} packets; dropped: {drops.kernel} in the kernel, {drops.queue} in the queue"
          + (f"; filter in {sniffer.filter_mode}" if args.port else ""), file=sys.stderr)
    if args.write:
        sniffer.write(args.write)
        print(f"chatlab sniff: wrote {len(sniffer.frames)} packets to {args.write}", file=sys.stderr)
    if error:
        print(f"chatlab sniff: {error}", file=sys.stderr)
        return 1
    return 0
