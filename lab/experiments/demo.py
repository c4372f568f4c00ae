"""The classroom demo: a chat between three scripted clients, captured and explained.

One call, :func:`run_demo`, starts the chat server (in this process), the
sniffer on ``lo`` filtered to the server's port, and three clients speaking
docs/PROTOCOL.md over plain sockets:

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
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RECORDED = Path(__file__).resolve().parents[1] / "data" / "demo.pcap"

# carol runs in her own process so that she can really be killed.
CAROL = r"""
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
buf = b""
def wait_for(token):
    global buf
    while token not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(1)
        buf += chunk
    buf = buf[buf.index(token) + len(token):]
wait_for(b"What is your name?")
s.sendall(b"carol\n")
wait_for(b"welcome:")
s.sendall(b"/list\n")
wait_for(b"--- list:")
wait_for(b"\r\n")
print("ready", flush=True)
time.sleep(30)  # from now on carol reads nothing; the demo kills her
"""


class Client:
    """A scripted chat client over a plain TCP socket."""

    def __init__(self, port: int, name: str):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        self.expect(b"What is your name?")
        self.send(name)
        self.expect(b"welcome:")

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def expect(self, token: bytes, timeout: float = 5.0) -> bytes:
        """Read until `token` (and the end of its line) has arrived."""
        deadline = time.monotonic() + timeout
        while token not in self.buffer or not self.buffer[self.buffer.index(token):].count(b"\r\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name} never received {token!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        got, self.buffer = self.buffer, b""
        return got

    def close(self) -> None:
        self.sock.close()


def _script(port: int, say) -> None:
    """The chat itself (raises on a protocol surprise)."""
    say("alice connects")
    alice = Client(port, "alice")
    say("bob connects")
    bob = Client(port, "bob")
    say("carol connects (a separate process, so that she can be killed)")
    carol = subprocess.Popen([sys.executable, "-c", CAROL, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([carol.stdout], [], [], 10)
        if not ready or carol.stdout.readline().strip() != "ready":
            raise RuntimeError("carol did not get into the chat")
        say("alice says hi to everyone (a broadcast)")
        alice.send("hi everyone, this chat is being captured!")
        bob.expect(b"<alice> hi everyone")
        say("bob sends alice a private message with /msg")
        bob.send("/msg alice psst, look at the SYN packets")
        alice.expect(b"*bob* psst")
        say("bob leaves with /quit: the server closes, FIN")
        bob.send("/quit see you")
        bob.expect(b"--- bye")
        bob.sock.settimeout(2)
        while bob.sock.recv(4096):  # until b'': the server's FIN
            pass
        bob.close()
        alice.expect(b"bob left")
        say("alice writes to carol, who no longer reads")
        alice.send("carol, are you still there?")
        time.sleep(0.3)  # the line is now in carol's receive buffer, unread
        say("carol is killed (SIGKILL) with that line unread: RST")
        carol.send_signal(signal.SIGKILL)
        carol.wait(5)
        alice.expect(b"carol left")
        time.sleep(0.2)
    finally:
        if carol.poll() is None:
            carol.kill()
            carol.wait(5)
        carol.stdout.close()
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
        try:
            alice.sock.settimeout(2)
            while alice.sock.recv(4096):
                pass
        except OSError:
            pass
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
