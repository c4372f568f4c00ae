"""The classroom demo: a chat between three scripted clients, captured and explained.

One call, :func:`run_demo`, starts the chat server (in this process), the
sniffer on ``lo`` filtered to the server's port, and three scripted chat
members (lab/peer.py) over plain sockets:

1. alice, bob and carol connect: three three-way handshakes;
2. alice sends a message to everyone (a broadcast), bob a private ``/msg``
   to alice, carol asks ``/list``;
3. bob leaves with ``/quit``: the server answers ``bye`` and closes, FIN;
4. carol is a separate process, killed (SIGKILL) while alice's last message
   sits unread in its receive buffer: the kernel closes the socket for the
   dead process and, because unread data would be lost, sends RST, not FIN;
5. the server stops (alice gets the shutdown notice).

Then it prints the annotated packets, the ladder diagrams of bob's and
carol's connections, a per-connection summary and the server's lifecycle
log, and writes the capture to a pcap.  Without capture permission it says
so in one line, still runs the chat, and explains the capture recorded with
the kit (lab/data/demo.pcap), labelled RECORDED.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab.peer import Peer, PeerProcess, is_event

RECORDED = Path(__file__).resolve().parents[1] / "data" / "demo.pcap"


def _script(port: int, say) -> Peer:
    """The chat itself (raises on a protocol surprise); returns alice, still connected."""
    address = ("127.0.0.1", port)
    say("alice connects")
    alice = Peer(address, "alice")
    say("bob connects")
    bob = Peer(address, "bob")
    say("carol connects (a separate process, so that she can be killed)")
    # carol asks /list, then reads nothing more: what arrives next stays in her receive buffer
    carol = PeerProcess(port, "carol", "stalled", script=(("send", "/list"), ("expect", "--- list:")))
    try:
        say("alice says hi to everyone (a broadcast)")
        alice.send("hi everyone, this chat is being captured!")
        bob.expect("<alice> hi everyone")
        say("bob sends alice a private message with /msg")
        bob.send("/msg alice psst, look at the SYN packets")
        alice.expect("*bob* psst")
        say("bob leaves with /quit: the server closes, FIN")
        bob.quit("see you")  # reads until the server's FIN, then closes: nothing unread
        alice.expect(is_event("bob", "left"))
        say("alice writes to carol, who no longer reads")
        alice.send("carol, are you still there?")
        carol.wait_unread()  # the line is now in carol's receive buffer, unread
        say("carol is killed (SIGKILL) with that line unread: RST")
        carol.kill()
        alice.expect(is_event("carol", "left"))
    finally:
        carol.stop()
    return alice


def run_demo(console=None, recorded: bool = False, write: str | os.PathLike | None = "chatlab-demo.pcap",
             width: int | None = None) -> int:
    """Run the whole demo and print it; returns the exit status (0 when all went as planned)."""
    from rich.console import Console
    from rich.rule import Rule

    from lab import lifecycle as ev
    from lab.capture import annotate_with_streams, read_pcap
    from lab.capture.render import ladder, packet_table, summary_table
    from lab.capture.sniffer import GRANT_HINT, CaptureError, Sniffer, capture_problem
    from lab.tcp.server import ChatServer, ServerConfig

    console = console or Console(width=width)
    console.print(Rule("[bold]chat-lab demo: a TCP chat, packet by packet[/bold]"))
    problem = None if not recorded else "the recorded capture was requested (--recorded)"
    if problem is None:
        problem = capture_problem("lo")
        if problem:
            console.print(f"[bold yellow]Packet capture is not permitted: {GRANT_HINT}. "
                          "The chat runs anyway; the packets shown are a RECORDED capture.[/bold yellow]")
    log = ev.EventLog(verbosity=0)
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, shutdown_grace=0.3), log=log)
    server.start()
    port = server.address[1]
    console.print(f"[bold]Server[/bold] listening on 127.0.0.1:{port}")
    sniffer = None
    if problem is None:
        try:
            sniffer = Sniffer(iface="lo", port=port).start()
            console.print(f"[bold]Sniffer[/bold] capturing port {port} on lo (filter in {sniffer.filter_mode})")
        except CaptureError as exc:
            problem = str(exc)
            console.print(f"[bold yellow]Capture failed: {exc}. The packets shown are a RECORDED capture.[/bold yellow]")
    status = 0
    try:
        alice = _script(port, lambda what: console.print(f"  [cyan]>[/cyan] {what}"))
    except Exception as exc:  # the demo must end cleanly even if the chat misbehaves
        console.print(f"[bold red]The scripted chat failed: {exc}[/bold red]")
        alice, status = None, 1
    server.stop()
    if alice is not None:
        # alice reads to the end (the shutdown notice, then b'': the server's FIN)
        # and closes with nothing unread, so her connection ends with FIN, not RST.
        alice.read_until_closed(2)
        alice.close()
    time.sleep(0.2)  # the last ACKs of the shutdown
    if sniffer is not None:
        drops = sniffer.stop()
        segments = sniffer.segments
        source = f"LIVE capture of this run, port {port} on lo"
        if write:
            sniffer.write(write)
    else:
        segments = read_pcap(RECORDED)
        drops = None
        source = f"RECORDED capture shipped with the kit ({RECORDED.name}), NOT this run"
    annotated, streams = annotate_with_streams(segments, {port} if sniffer is not None else None)
    # Which ephemeral port is whose: from the server's lifecycle log (live run only).
    names = {}
    if sniffer is not None:
        ports = {e.conn: e.client[1] for e in log.of_kind("accepted")}
        names = {ports[e.conn]: e.name for e in log.of_kind("named") if e.conn in ports}
        names[port] = "server"
    console.print(Rule(f"[bold]1. The packets ({source})[/bold]"))
    console.print(packet_table(annotated, title=f"{len(annotated)} packets" + ("  [RECORDED]" if sniffer is None else ""),
                               names=names))
    tcp_streams = [s for s in streams if s.proto == "tcp"]
    # bob's connection is the first to end with FINs (alice's ends at the shutdown).
    fin = min((s for s in tcp_streams if s.ended.startswith("FIN") and not s.rst_from),
              key=lambda s: s.last_ns, default=None)
    first_rst = {}
    for ann in annotated:
        if "R" in ann.flags:
            first_rst.setdefault(ann.stream, ann.segment.number)
    rst = min((s for s in tcp_streams if s.index in first_rst), key=lambda s: first_rst[s.index], default=None)
    for title, stream in (("bob's connection: handshake, /quit, FIN", fin),
                          ("carol's connection: killed with unread data, RST", rst)):
        if stream is not None:
            console.print(Rule(f"[bold]2. Ladder diagram: {title}[/bold]"))
            console.print(ladder(annotated, stream, width=min(console.width, 100), names=names))
    console.print(Rule("[bold]3. Connections[/bold]"))
    console.print(summary_table(tcp_streams, title="One row per TCP connection (client port = ephemeral port)",
                                names=names))
    console.print(Rule("[bold]4. The server's lifecycle log (this run)[/bold]"))
    for event in log.events:
        console.print(log.render(event))
    console.print(Rule("[bold]Done[/bold]"))
    if sniffer is not None:
        console.print(f"Capture: {len(sniffer.frames)} packets, dropped {drops.kernel} in the kernel and "
                      f"{drops.queue} in the queue.")
        if write:
            console.print(f"Saved to [bold]{Path(write).resolve()}[/bold]: open it with Wireshark, or "
                          f"`tshark -r {write}`, or `chatlab sniff --read {write}`.")
    else:
        console.print(f"The packets above were RECORDED earlier ({RECORDED}); grant capture permission to "
                      "see this run's own packets.")
    return status
