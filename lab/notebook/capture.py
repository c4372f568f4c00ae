"""Packet capture in a lesson: live when permitted, else a RECORDED capture replayed step by step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lab.notebook.display import Ladder, note, show
from lab.notebook.settings import FORCE_RECORDED_ENV, LESSON_DATA, RECORD_ENV, SETTLE


class Capture:
    """Packets on one TCP/UDP port, live when permitted, else RECORDED (with a visible note).

    Every read (``next_step()``, ``new()``, ``show_new()``, ``ladder()``...) is a
    *step*.  Live, a step waits until the capture is quiet and remembers how
    many packets it had; recorded, step k shows what step k of the
    recording showed.  So a notebook reads the same either way.
    """

    def __init__(self, port: int, name: str, iface: str = "lo", live: bool = True, netns: str | None = None):
        from lab.capture import Annotator

        self.port, self.name, self.iface, self.netns = port, name, iface, netns
        self.sniffer = None
        self.recorded: list = []
        self.steps: list[int] = []
        self._step = 0
        self._shown = 0
        self.annotated: list = []
        self.problem: str | None = None
        if live and os.environ.get(FORCE_RECORDED_ENV):
            live, self.problem = False, f"{FORCE_RECORDED_ENV}=1 asks for the recorded captures"
        if live:
            from lab.capture.sniffer import CaptureError, Sniffer, capture_problem

            self.problem = capture_problem(iface) if netns is None else None
            if self.problem is None:
                try:
                    self.sniffer = Sniffer(iface=iface, port=port, netns=netns).start()
                except CaptureError as exc:
                    self.problem = str(exc)
        elif self.problem is None:
            self.problem = "a recorded capture was asked for"
        server_ports = {port}
        if self.sniffer is None:
            self._load_recording()
            server_ports = set(self._meta.get("server_ports", []))
            note(f"**RECORDED capture.** Live capture is not possible here ({self.problem}). The packets below "
                 f"were recorded by the same notebook on another machine ({self.source}); their port "
                 "numbers and times differ from the ones this run printed, the story is the same.")
        self._annotator = Annotator(server_ports)

    @property
    def live(self) -> bool:
        """True when the packets are this run's own (not a recording)."""
        return self.sniffer is not None

    @property
    def source(self) -> str:
        """Where the packets come from, for the lesson's note: "LIVE, port P on IFACE" or the recorded pcap's path."""
        if self.sniffer is not None:
            return f"LIVE, port {self.port} on {self.iface}"
        return f"lab/data/lessons/{self.name}.pcap"

    def _load_recording(self) -> None:
        from lab.capture import read_pcap

        path = LESSON_DATA / f"{self.name}.pcap"
        meta = LESSON_DATA / f"{self.name}.json"
        if not path.exists():  # should not happen in the kit: fall back on the demo's capture
            path, meta = path.parent.parent / "demo.pcap", None
        self.recorded = read_pcap(path)
        self._meta = json.loads(meta.read_text()) if meta and meta.exists() else {}
        self.steps = list(self._meta.get("steps", []))

    def _settle(self, limit: float = 3.0) -> None:
        """Wait until no new packet arrived for SETTLE seconds (bounded)."""
        deadline = time.monotonic() + limit
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.sniffer.poll()
            count = len(self.sniffer.segments)
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE:
                return
            time.sleep(0.03)

    def _sync(self) -> None:
        """One step: bring ``annotated`` up to date."""
        if self.sniffer is not None:
            if self.sniffer.running:
                self._settle()
            segments = self.sniffer.segments
            self.steps.append(len(segments))
        else:
            segments = self.recorded
            if self._step < len(self.steps):
                segments = segments[:self.steps[self._step]]
        self._step += 1
        for seg in segments[len(self.annotated):]:
            self.annotated.append(self._annotator.feed(seg))

    def next_step(self) -> list:
        """Take the next step and return every packet captured so far, annotated.

        A method, not an attribute: reading it *advances* the capture by one
        step (live, it waits until the capture is quiet; recorded, it moves
        on to the next step of the recording), like every other reader here.
        """
        self._sync()
        return list(self.annotated)

    @property
    def streams(self) -> list:
        """The TCP connections (and UDP conversations) seen so far."""
        return list(self._annotator.streams)

    def new(self) -> list:
        """The packets captured since the last ``new()``/``show_new()`` (a step)."""
        self._sync()
        out = self.annotated[self._shown:]
        self._shown = len(self.annotated)
        return out

    def show_new(self, title: str = "new packets") -> list:
        """Show the packets captured since the last time, one row each, explained (a step)."""
        from lab.capture.render import packet_table

        fresh = self.new()
        label = f"{title}: {len(fresh)} packet{'s' if len(fresh) != 1 else ''} ({self.source})"
        t0 = self.annotated[0].segment.time if self.annotated else None
        show(packet_table(fresh, title=label, t0=t0))
        return fresh

    def stream(self, index: int = 0, proto: str = "tcp"):
        """The ``index``-th TCP connection of the capture (0 = the first one)."""
        found = [s for s in self.streams if s.proto == proto]
        if index >= len(found):
            raise LookupError(f"the capture has only {len(found)} {proto.upper()} connection(s)")
        return found[index]

    def ladder(self, index: int = 0, figure: bool = True):
        """A ladder diagram of connection ``index``: text, and a matplotlib figure (a step)."""
        from lab.capture.render import ladder_figure

        self._sync()
        stream = self.stream(index)
        show(Ladder(list(self.annotated), stream))
        if figure:
            import matplotlib.pyplot as plt

            fig = ladder_figure(self.annotated, stream)
            plt.show()
            plt.close(fig)

    def summary(self, title: str = "one row per connection") -> None:
        """Per-connection summary: 4-tuple, ephemeral port, bytes, how it ended (a step)."""
        from lab.capture.render import summary_table

        self._sync()
        show(summary_table([s for s in self.streams if s.proto == "tcp"] or self.streams,
                           title=f"{title} ({self.source})"))

    def payloads(self, role: str | None = None, stream: int | None = None) -> bytes:
        """Every payload byte captured so far, in capture order (a step).

        ``role``: only what the "client" or the "server" sent; ``stream``:
        only that connection.  Retransmitted copies are left out.
        """
        self._sync()
        return b"".join(a.segment.payload for a in self.annotated
                        if a.segment.length and (role is None or a.role == role)
                        and (stream is None or a.stream == stream)
                        and "retransmission" not in a.analysis)

    def show_flagged(self, title: str = "packets Wireshark would flag", limit: int = 12) -> list:
        """Only the packets with a tcp.analysis flag (zero window, retransmission...), at most ``limit`` (a step)."""
        from lab.capture.render import packet_table

        self._sync()
        flagged = [a for a in self.annotated if a.analysis]
        counts: dict[str, int] = {}
        for a in flagged:
            for name in a.analysis:
                counts[name] = counts.get(name, 0) + 1
        t0 = self.annotated[0].segment.time if self.annotated else None
        shown = flagged[:limit]
        show(packet_table(shown, t0=t0, title=f"{title}: {len(flagged)} of {len(self.annotated)} packets "
                                              f"({', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'}); "
                                              f"the first {len(shown)} ({self.source})"))
        return flagged

    def stop(self) -> None:
        """Stop capturing (idempotent); a last step takes in what was still queued."""
        if self.sniffer is not None and self.sniffer.running:
            self._settle(limit=1.0)
            self.sniffer.stop()
            self._sync()
            directory = os.environ.get(RECORD_ENV)
            if directory:
                self.save(Path(directory))

    def save(self, directory: Path) -> Path:
        """Write the capture and its steps (what tools/record_lessons.py keeps)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.sniffer.write(directory / f"{self.name}.pcap")
        # The last step (stop's) would cut nothing: keep only the notebook's own steps.
        meta = {"steps": self.steps[:-1], "server_ports": [self.port]}
        (directory / f"{self.name}.json").write_text(json.dumps(meta) + "\n")
        return directory / f"{self.name}.pcap"
