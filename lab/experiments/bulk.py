"""A bulk transfer in the chat: a member pastes a whole book, as many chat lines.

The kit ships a public-domain book, ``lab/data/books/alice.txt`` (Lewis
Carroll, *Alice's Adventures in Wonderland*, about 150 KB; its header says
where it comes from and why it is free).  Pasting it makes one TCP
connection carry about 150 KB at once: enough segments to see slow start,
the congestion window, the receive window and retransmissions (lesson 8).

Two parts, as everywhere in the kit:

* :func:`paste_lines` (no I/O) turns a text into chat lines that the server
  relays exactly as they are: within the protocol's line limit
  (``lab.chat.wire.MAX_LINE_BYTES``, counted in UTF-8 bytes), one
  paragraph per line or several when it is long, words never split
  (unless one word alone is over the limit), nothing the server would clean
  away, and a line that starts with ``/`` escaped as ``//`` so that it is
  a message, not a command.  No word is lost: :func:`words` of the lines is
  the text's words.  (Line breaks inside a paragraph and indentation
  become single spaces: a chat line has neither.)
* :func:`paste` sends the lines on a connected socket and watches the
  socket's send queue while it does (``TIOCOUTQ``: bytes not yet
  acknowledged; ``SIOCOUTQNSD``: bytes not even sent yet).

**The server's flood limit is part of the story, not hidden.**  The chat
server lets each member send ``rate`` lines a second after a ``burst``
(10 and 20 by default, ``lab.chat.ratelimit``).  It does not drop the
excess: it stops *reading* that member's socket for a while.  The server's
receive buffer fills, its TCP advertises a smaller and smaller window, then
a zero window; the sender's kernel keeps what it cannot send in its send
buffer, and ``sendall`` blocks when that is full too.  TCP flow control
throttles the paste to the server's reading speed, and no line is lost.
:func:`paste` reports it as it happens: lines handed to the kernel, bytes
waiting unacknowledged, and bytes that could not even be sent because the
window was closed.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.chat import wire

BOOK = Path(__file__).resolve().parents[1] / "data" / "books" / "alice.txt"
_HEADER_END = "\n---\n"  # the book's header (source and licence) ends with this line
_SIOCOUTQNSD = 0x894B  # linux/sockios.h: bytes in the send queue not yet sent


def book_text(path: Path = BOOK, with_header: bool = False) -> str:
    """The shipped book (without its source-and-licence header unless asked)."""
    text = path.read_text(encoding="utf-8")
    if not with_header and _HEADER_END in text:
        text = text.split(_HEADER_END, 1)[1]
    return text


def _split_word(word: str, max_bytes: int) -> list[str]:
    """A word longer than the limit, cut into pieces of at most ``max_bytes`` UTF-8 bytes (never mid-character)."""
    pieces, piece = [], ""
    for char in word:
        if len((piece + char).encode()) > max_bytes:
            pieces.append(piece)
            piece = ""
        piece += char
    return pieces + [piece] if piece else pieces


def _as_message(text: str) -> str:
    """``text`` as a line the server relays as the message ``text`` (``//`` before a leading ``/``)."""
    return "/" + text if text.startswith("/") else text


def paste_lines(text: str, max_bytes: int = wire.MAX_LINE_BYTES) -> list[str]:
    """The chat lines that paste ``text``: each relayed as it is, within ``max_bytes`` (see the module doc)."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        # clean_text would strip what a terminal interprets; split() joins the paragraph's lines with spaces
        words = [piece for word in wire.clean_text(" ".join(paragraph.split())).split()
                 for piece in _split_word(word, max_bytes - 1)]  # -1: room for an escaping "/"
        current = ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if len(_as_message(candidate).encode()) > max_bytes:
                lines.append(_as_message(current))
                candidate = word
            current = candidate
        if current:
            lines.append(_as_message(current))
    return lines


def words(lines: list[str]) -> list[str]:
    """The words the chat shows for ``lines`` (each parsed by the wire parser, as the server does)."""
    out: list[str] = []
    for line in lines:
        command = wire.parse_command(wire.clean_text(line))
        if not isinstance(command, wire.Say):
            raise ValueError(f"{line[:40]!r} would be a command, not a message")
        out += command.text.split()
    return out


# --- sending ------------------------------------------------------------------------

def send_queue(sock: socket.socket) -> tuple[int, int]:
    """(bytes not yet acknowledged, bytes not yet sent) in ``sock``'s send queue (Linux ioctls)."""
    buf = struct.pack("i", 0)
    outq = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf))[0]
    unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, buf))[0]
    return outq, unsent


@dataclass
class Sample:
    """The sender's view at one moment of a paste."""

    t: float  # seconds since the paste began
    lines_handed: int  # lines sendall() has handed to the kernel
    unacked: int  # bytes in the send queue not yet acknowledged by the server's TCP
    unsent: int  # of those, bytes not sent at all: the window had no room for them


@dataclass
class PasteReport:
    """What happened during one paste (see :meth:`summary`)."""

    lines: int
    bytes: int
    handed_s: float | None = None  # when the last line was handed to the kernel
    acked_s: float | None = None  # when the server's TCP had acknowledged every byte (None: not within the wait)
    samples: list[Sample] = field(default_factory=list)

    @property
    def window_closed_s(self) -> float:
        """Seconds during which data waited but nothing was in flight: the server's window was closed."""
        closed = 0.0
        for before, after in zip(self.samples, self.samples[1:]):
            if before.unsent > 0 and before.unacked - before.unsent == 0:
                closed += after.t - before.t
        return closed

    def summary(self) -> list[str]:
        """A few lines for a person: what TCP did with the paste."""
        out = [f"pasted {self.lines} lines, {self.bytes:,} bytes"]
        if self.handed_s is not None:
            out.append(f"every line was handed to the kernel (sendall returned) after {self.handed_s:.2f} s")
        if self.acked_s is not None:
            rate = self.bytes / self.acked_s if self.acked_s else 0
            out.append(f"the server's TCP had acknowledged every byte after {self.acked_s:.2f} s "
                       f"({rate / 1000:,.1f} KB/s)")
        else:
            last = self.samples[-1] if self.samples else None
            out.append("the server's TCP had not acknowledged everything yet"
                       + (f": {last.unacked:,} bytes still waiting" if last else ""))
        if self.window_closed_s >= 0.2:
            out.append(f"for {self.window_closed_s:.1f} s data waited with nothing in flight: the server's "
                       "receive window was closed (flow control: the server was not reading, e.g. its "
                       "flood limit)")
        return out


def paste(sock: socket.socket, lines: list[str], send_line: Callable[[str], None] | None = None, *,
          progress: Callable[[Sample], None] | None = None, every: float = 1.0, sample: float = 0.02,
          wait_acked: float = 120.0) -> PasteReport:
    """Send ``lines`` on the connected ``sock`` and watch its send queue; return the report.

    ``send_line(text)`` sends one line (default: ``sock.sendall(text + LF)``;
    a client passes its own, e.g. TLS).  The queue is sampled every
    ``sample`` seconds; ``progress`` gets a sample every ``every`` seconds.
    After the last line, waits at most ``wait_acked`` seconds for every byte
    to be acknowledged.  The socket must be blocking (or have a timeout
    longer than the flow-control stalls): ``sendall`` blocking is flow
    control at work.
    """
    send_line = send_line or (lambda text: sock.sendall(text.encode("utf-8") + b"\n"))
    report = PasteReport(lines=len(lines), bytes=sum(len(line.encode()) + 1 for line in lines))
    began = time.monotonic()
    handed = 0
    done = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        next_progress = 0.0
        while True:
            stop = done.wait(sample)
            try:
                unacked, unsent = send_queue(sock)
            except OSError:
                return
            now = time.monotonic() - began
            with lock:
                point = Sample(round(now, 3), handed, unacked, unsent)
                report.samples.append(point)
            if progress and now >= next_progress:
                next_progress = now + every
                progress(point)
            if stop:
                return

    watcher = threading.Thread(target=watch, name="paste-watch", daemon=True)
    watcher.start()
    try:
        for line in lines:
            send_line(line)
            with lock:
                handed += 1
        report.handed_s = round(time.monotonic() - began, 3)
        deadline = time.monotonic() + wait_acked
        while time.monotonic() < deadline:
            if send_queue(sock)[0] == 0:
                report.acked_s = round(time.monotonic() - began, 3)
                break
            time.sleep(sample)
    finally:
        done.set()
        watcher.join(2)
    return report


def paste_file(sock: socket.socket, path: str | Path | None, send_line: Callable[[str], None],
               show: Callable[[str], None]) -> PasteReport | None:
    """``/paste [FILE]`` in ``chatlab client``: paste FILE (default: the shipped book), with progress lines.

    Returns None (after one line saying why) when the file cannot be read.
    """
    try:
        text = book_text() if path is None else Path(path).expanduser().read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        show(f"paste: cannot read {path}: {error.strerror or error}")
        return None
    lines = paste_lines(text)
    if not lines:
        show(f"paste: {path} has no text to send")
        return None
    name = "the book (Alice's Adventures in Wonderland)" if path is None else str(path)
    show(f"paste: sending {name}: {len(lines)} lines, {sum(len(x.encode()) + 1 for x in lines):,} bytes")

    def progress(s: Sample) -> None:
        waiting = f"{s.unacked:,} bytes not yet acknowledged"
        if s.unsent:
            waiting += f", {s.unsent:,} of them not even sent: the server's window is full"
        show(f"paste: {s.t:5.1f} s  {s.lines_handed}/{len(lines)} lines handed to TCP, {waiting}")

    report = paste(sock, lines, send_line, progress=progress)
    for line in report.summary():
        show(f"paste: {line}")
    return report


PASTE_COMMAND = "/paste"
PASTE_HELP = ("/paste [FILE]", "send FILE (default: the kit's book, Alice in Wonderland) as chat lines; "
                               "client-side: the server sees only the lines")


def run_paste_command(typed: str, sock: socket.socket, send_line: Callable[[str], None],
                      show: Callable[[str], None]) -> bool:
    """The client's ``/paste [FILE]``: False if ``typed`` is not that command; else paste, report, return True.

    ``/paste`` is the client's own command, not the protocol's: the server
    only ever sees the chat lines it sends.  (``//paste`` is a message, as
    every ``//`` line is.)
    """
    word, _, rest = typed.strip().partition(" ")
    if word.lower() != PASTE_COMMAND:
        return False
    paste_file(sock, rest.strip() or None, send_line, show)
    return True
