"""An emulated network of real hosts on one machine: network namespaces.

Topology (``clients=3``)::

    server ── router ── client1
                 ├───── client2
                 └───── client3

Every host is a Linux *network namespace* (its own interfaces, addresses,
routes, ports and firewall), joined to the router by a *veth pair* (a virtual
cable: what goes in one end comes out of the other).  The router forwards
IPv4 between its links (``net.ipv4.ip_forward=1``) and is where the network
misbehaves:

* **loss**: an nftables rule in the router's *forward* hook,
  ``numgen random mod 100 < N drop``, drops N % of the packets it forwards,
  in both directions.  Dropping in the middle router (not on the sender's own
  output hook) matters: a packet dropped on the sender's output hook is
  reported to the sending socket as an error (EPERM) instead of being lost in
  the network, which is not what a lossy link does.
* **rate and queue**: a ``tbf`` (token bucket filter) qdisc on each router
  interface; its ``limit`` is the router's buffer, and when it is full tbf
  drops what arrives (a tail drop), which is what congestion control reacts
  to;
* **delay, reordering, duplication, seeded loss**: a *stage* in the router
  (``lab.net.shaping`` chooses it): the ``netem`` qdisc where the kernel has
  it, otherwise the kit's own delay stage, a process in the router fed
  through a TUN device (``lab.net.delay_stage``), whose decisions are seeded
  so that a class can replay the same run.  With loss alone, the nftables
  rule above does it, as it always did.

Addresses come from the private range 10.77.0.0/16 (RFC 1918): link ``k``
(0 = the server, k = client k) is 10.77.k.0/24, the router is 10.77.k.1 and
the host 10.77.k.2.  The namespaces are isolated from the machine's own
network, so this range cannot clash with anything outside the lab and no
packet leaves the namespaces.

Nothing is created outside the lab's namespaces: both ends of each veth pair
are created directly inside their namespace; the nftables table, the tc
qdiscs, the TUN device, the delay stage's process and its (abstract) control
socket live in the router namespace, and the settings are kept as the alias
of the router's ``lo``.  Deleting the namespaces therefore
removes everything, which is what :meth:`Netlab.down` does (also after a
failure half way through :meth:`Netlab.up`, an exception in a ``with`` block,
or Ctrl-C).  Each lab has a name *prefix* (namespaces ``PREFIX-router``,
``PREFIX-server``, ``PREFIX-client1``...), so tests use their own.

Use it from Python (tests, notebooks)::

    with Netlab(prefix="demo", clients=3, loss=20) as net:
        net.exec("client1", ["ping", "-c", "3", net.address("server")])
        with net.inside("server"):          # sockets made here live in "server"
            sock = socket.socket(...)

or from the shell: ``chatlab netlab up --loss 20``, ``chatlab netlab exec
client1 -- ping 10.77.0.2``, ``chatlab netlab status``, ``chatlab netlab down``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from lab.net import shaping
from lab.net.shaping import LinkSettings, ShapingError

DEFAULT_PREFIX = "chatlab"
SUBNET = "10.77.0.0/16"
MAX_CLIENTS = 50
NFT_TABLE = "chatlab"
CLONE_NEWNET = 0x40000000
STAGE_TABLE = 100  # routing table that sends forwarded packets into the delay stage
STAGE_RULE_PREF = 1000

_PREFIX_RULE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


class NetlabError(Exception):
    """Something the user can fix: the message is one clear line."""


def privilege_problem() -> str | None:
    """None when this process can build namespaces, else a one-line reason and fix."""
    from lab.net.privileges import CAP_NET_ADMIN, CAP_SYS_ADMIN, has_capabilities

    if os.geteuid() != 0:
        return ("creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): "
                "run it with sudo, e.g. `sudo .venv/bin/chatlab netlab up`")
    if not has_capabilities(CAP_SYS_ADMIN, CAP_NET_ADMIN):
        return ("running as root but without CAP_SYS_ADMIN and CAP_NET_ADMIN (a container that dropped them?): "
                "network namespaces cannot be created here; run on a machine or VM where root has them")
    for tool in ("ip", "nft", "tc"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command is not installed (apt install iproute2 nftables)"
    return None


def host_address(index: int) -> str:
    """The address of the host at the far end of link ``index``."""
    return f"10.77.{index}.2"


def router_address(index: int) -> str:
    """The router's address on link ``index``."""
    return f"10.77.{index}.1"


def loss_ruleset(percent: int) -> str:
    """The nftables script that makes the router drop ``percent`` % of forwarded packets.

    The first rule counts every forwarded packet, the second drops a random
    ``percent`` % (``numgen random mod 100`` is uniform in 0..99) and counts
    the drops, so ``status`` can show the loss actually applied.
    """
    if not 0 <= percent <= 100:
        raise NetlabError(f"loss must be between 0 and 100 %, not {percent}")
    if percent == 100:  # nft refuses "mod 100 < 100" (the comparison could never be false)
        drop = "counter drop comment \"loss 100\""
    elif percent > 0:
        drop = f"numgen random mod 100 < {percent} counter drop"
    else:
        drop = "counter comment \"no loss\""
    return (
        f"table inet {NFT_TABLE} {{\n"
        f"  chain forward {{\n"
        f"    type filter hook forward priority 0; policy accept;\n"
        f"    counter comment \"forwarded\"\n"
        f"    {drop}\n"
        f"  }}\n"
        f"}}\n"
    )


def parse_loss_ruleset(text: str) -> dict:
    """Read back loss % and counters from ``nft list table`` output (no I/O)."""
    found = {"loss": 0, "seen": None, "dropped": None}
    m = re.search(r"numgen random mod 100 < (\d+) counter packets (\d+) bytes \d+ drop", text)
    if m:
        found["loss"] = int(m.group(1))
        found["dropped"] = int(m.group(2))
    m = re.search(r"counter packets (\d+) bytes \d+ drop comment \"loss 100\"", text)
    if m:
        found["loss"], found["dropped"] = 100, int(m.group(1))
    m = re.search(r"counter packets (\d+) bytes \d+ comment \"forwarded\"", text)
    if m:
        found["seen"] = int(m.group(1))
    return found


def _run(argv: Sequence[str], check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a short command (ip, nft, tc) with a time limit; raise NetlabError on failure."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise NetlabError(f"`{' '.join(argv)}` did not finish within 20 s") from None
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise NetlabError(f"`{' '.join(argv)}` failed: {err[-1] if err else 'exit ' + str(proc.returncode)}")
    return proc


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (``ip netns list``)."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def inside_namespace(name: str) -> Iterator[None]:
    """Run the ``with`` body with *this thread* in network namespace ``name``.

    The network namespace is a per-thread property on Linux, so other threads
    are not affected.  A socket keeps the namespace it was created in for its
    whole life, so sockets (and servers) made inside the block can be used
    from anywhere afterwards: that is how one Python process can run a server
    in the "server" host and clients in the "client" hosts.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    except FileNotFoundError:
        os.close(own)
        raise NetlabError(f"network namespace {name!r} does not exist (is the lab up?)") from None
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


@functools.lru_cache(maxsize=1)
def netem_available() -> bool:
    """True if this kernel has the netem qdisc (delay, reordering).

    Probed in a throw-away namespace so nothing on the machine changes.
    """
    probe = f"chatlab-netem-probe-{os.getpid()}"
    try:
        _run(["ip", "netns", "add", probe])
        _run(["ip", "-n", probe, "link", "set", "lo", "up"])
        return _run(["tc", "-n", probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                    check=False).returncode == 0
    except NetlabError:
        return False
    finally:
        _run(["ip", "netns", "del", probe], check=False)


@dataclass
class Netlab:
    """A lab network: one router, one server host, ``clients`` client hosts.

    What the router does to the packets it forwards (each direction, each
    link; see ``lab.net.shaping.LinkSettings``): ``loss`` %, ``delay_ms``
    one way ("40ms" or 40), ``rate`` ("2mbit") with a ``queue`` ("32kb"),
    ``reorder`` % (held back ``reorder_gap_ms``), ``duplicate`` %, and a
    ``seed`` that makes the kit's delay stage replay the same decisions.
    ``stage`` is "auto" (nftables for loss alone, else netem where the
    kernel has it and no seed was asked for, else the kit's TUN stage) or
    "nftables", "netem", "tun".  ``offload``: whether hosts may hand their
    link 64 KB "super-segments" (TSO/GSO, which a veth passes on whole);
    None means off whenever a stage shapes the traffic, so that every packet
    is one MSS-sized segment, as on a real wire.  ``keep=True`` leaves the
    lab up when the ``with`` block ends.
    """

    prefix: str = DEFAULT_PREFIX
    clients: int = 3
    loss: int = 0
    rate: str | int | None = None
    delay_ms: str | float | None = None
    reorder: int = 0
    queue: str | int | None = None
    reorder_gap_ms: str | float = 10.0
    duplicate: int = 0
    seed: int | None = None
    stage: str = "auto"
    offload: bool | None = None
    keep: bool = False
    notes: list[str] = field(default_factory=list)
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not _PREFIX_RULE.match(self.prefix):
            raise NetlabError(f"prefix {self.prefix!r}: use 1-31 lowercase letters, digits, - or _, starting with a letter")
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise NetlabError(f"clients must be between 1 and {MAX_CLIENTS}, not {self.clients}")
        self.settings = self._settings(loss=self.loss)
        self.active_stage: str | None = None  # chosen by up()

    def _settings(self, **changes) -> LinkSettings:
        """The LinkSettings of this lab's parameters (``changes`` override them), validated."""
        try:
            values = dict(
                loss=int(self.loss), delay_ms=shaping.parse_duration_ms(self.delay_ms) or 0.0,
                rate_bits=shaping.parse_rate_bits(self.rate), queue_bytes=shaping.parse_size_bytes(self.queue),
                reorder=int(self.reorder or 0), reorder_gap_ms=shaping.parse_duration_ms(self.reorder_gap_ms),
                duplicate=int(self.duplicate or 0), seed=self.seed)
            values.update(changes)
            return LinkSettings(**values)
        except (ShapingError, TypeError, ValueError) as exc:
            raise NetlabError(str(exc)) from None

    # -- names --------------------------------------------------------------
    @property
    def hosts(self) -> list[str]:
        """Host names: "router", "server", "client1", ..."""
        return ["router", "server"] + [f"client{k}" for k in range(1, self.clients + 1)]

    def netns(self, host: str) -> str:
        """The namespace name of ``host``."""
        if host not in self.hosts:
            raise NetlabError(f"no host {host!r} in this lab; hosts: {', '.join(self.hosts)}")
        return f"{self.prefix}-{host}"

    def _index(self, host: str) -> int:
        return 0 if host == "server" else int(host[len("client"):])

    def address(self, host: str) -> str:
        """The IPv4 address of ``host`` (the router answers with its server-side address)."""
        self.netns(host)
        return router_address(0) if host == "router" else host_address(self._index(host))

    def router_interface(self, host: str) -> str:
        """The router's interface towards ``host`` (for capture and tc)."""
        return f"to-{host}"

    # -- life cycle ---------------------------------------------------------
    def existing(self) -> list[str]:
        """The namespaces of this lab's prefix that exist now (any client count)."""
        mine = re.compile(rf"^{re.escape(self.prefix)}-(router|server|client\d+)$")
        return [ns for ns in list_namespaces() if mine.match(ns)]

    def is_up(self) -> bool:
        """True if exactly this lab's namespaces exist and the router has all its links."""
        want = {self.netns(h) for h in self.hosts}
        if set(self.existing()) != want:
            return False
        links = _run(["ip", "-n", self.netns("router"), "-o", "link"], check=False).stdout
        return all(f" {self.router_interface(h)}@" in links for h in self.hosts if h != "router")

    def up(self) -> "Netlab":
        """Create the lab (or re-apply its settings if it is already up). Idempotent.

        If anything fails half way (or Ctrl-C arrives), everything created so
        far is removed before the error propagates.
        """
        problem = privilege_problem()
        if problem:
            raise NetlabError(problem)
        stage = self._choose_stage()
        if self.is_up():
            self.notes.append(f"lab {self.prefix!r} was already up; settings re-applied")
            self._configure(stage)
            return self
        if self.existing():
            self.notes.append(f"removed an incomplete or different lab {self.prefix!r} first")
            self.down()
        try:
            self._build()
            self._configure(stage)
        except BaseException:
            self.down()
            raise
        return self

    def _choose_stage(self) -> str:
        netem = netem_available() if self.stage in ("auto", "netem") and self.settings.needs_stage else False
        try:
            return shaping.choose_stage(self.settings, self.stage, netem)
        except ShapingError as exc:
            raise NetlabError(str(exc)) from None

    def _build(self) -> None:
        router = self.netns("router")
        for host in self.hosts:
            _run(["ip", "netns", "add", self.netns(host)])
            _run(["ip", "-n", self.netns(host), "link", "set", "lo", "up"])
        for host in self.hosts[1:]:
            k = self._index(host)
            ns = self.netns(host)
            # Both ends are created directly in their namespaces: nothing in
            # the machine's own namespace, so nothing there to clean up.
            _run(["ip", "link", "add", "eth0", "netns", ns, "type", "veth",
                  "peer", "name", self.router_interface(host), "netns", router])
            _run(["ip", "-n", ns, "addr", "add", f"{host_address(k)}/24", "dev", "eth0"])
            _run(["ip", "-n", router, "addr", "add", f"{router_address(k)}/24", "dev", self.router_interface(host)])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", router, "link", "set", self.router_interface(host), "up"])
            _run(["ip", "-n", ns, "route", "add", "default", "via", router_address(k)])
        _run(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])

    def _configure(self, stage: str) -> None:
        """Apply the settings with ``stage``: first undo whatever was applied before."""
        router = self.netns("router")
        self._stop_stage()
        for host in self.hosts[1:]:
            _run(["tc", "-n", router, "qdisc", "del", "dev", self.router_interface(host), "root"], check=False)
        _run(["ip", "netns", "exec", router, "nft", "-f", "-"], check=False,
             input=f"add table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n")
        self._route_through_stage(False)
        # TSO/GSO: with a stage, every packet a host sends is one segment, as on a real wire.
        offload = self.offload if self.offload is not None else stage == "nftables"
        for host in self.hosts[1:]:
            _run(["ip", "-n", self.netns(host), "link", "set", "eth0", "gso_max_segs", "65535" if offload else "1"])
        if stage == "nftables":
            self._apply_nft_loss(self.settings.loss)
        elif stage == "tun":
            self._start_stage()
            self._route_through_stage(True)
        for host in self.hosts[1:]:
            for argv in shaping.qdisc_commands(self.settings, stage, router, self.router_interface(host)):
                _run(argv)
        remembered = {"stage": stage, **self.settings.to_dict(), "offload": offload}
        _run(["ip", "-n", router, "link", "set", "dev", "lo", "alias", json.dumps(remembered, separators=(",", ":"))])
        self.active_stage = stage

    def _apply_nft_loss(self, percent: int) -> None:
        # Replace the whole table atomically: "add" then "delete" makes the
        # delete succeed even if the table did not exist yet.
        script = f"add table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n" + loss_ruleset(percent)
        _run(["ip", "netns", "exec", self.netns("router"), "nft", "-f", "-"], input=script)

    # -- the kit's delay stage (TUN) ------------------------------------------
    def _route_through_stage(self, on: bool) -> None:
        """Policy routing in the router: packets that came in on a host link go to the TUN device."""
        router = self.netns("router")
        if not on:
            while _run(["ip", "-n", router, "rule", "del", "pref", str(STAGE_RULE_PREF)], check=False).returncode == 0:
                pass
            _run(["ip", "-n", router, "route", "flush", "table", str(STAGE_TABLE)], check=False)
            return
        from lab.net.delay_stage import TUN_NAME

        # The written-back packets arrive on the TUN device from addresses that
        # do not route back through it: reverse-path filtering must be off.
        for conf in ("all", "default", TUN_NAME):
            _run(["ip", "netns", "exec", router, "sysctl", "-q", "-w", f"net.ipv4.conf.{conf}.rp_filter=0"])
        _run(["ip", "-n", router, "route", "replace", "default", "dev", TUN_NAME, "table", str(STAGE_TABLE)])
        for host in self.hosts[1:]:
            _run(["ip", "-n", router, "rule", "add", "pref", str(STAGE_RULE_PREF), "iif", self.router_interface(host),
                  "lookup", str(STAGE_TABLE)])

    def _start_stage(self, timeout: float = 15.0) -> None:
        """Start lab.net.delay_stage in the router and wait (bounded) until it says ``ready``."""
        from lab.net.delay_line import SettingsError, StageSettings
        from lab.net.delay_stage import READY, TUN_NAME

        router = self.netns("router")
        links = _run(["ip", "-n", router, "-o", "link", "show", "dev", TUN_NAME], check=False)
        if links.returncode != 0:
            _run(["ip", "-n", router, "tuntap", "add", "dev", TUN_NAME, "mode", "tun"])
        _run(["ip", "-n", router, "link", "set", "dev", TUN_NAME, "up"])
        try:
            settings = StageSettings(**self._stage_settings(self.settings))
        except SettingsError as exc:
            raise NetlabError(str(exc)) from None
        # A session of its own: Ctrl-C in the terminal that ran `chatlab netlab
        # up` must not stop the stage of a lab that stays up.
        proc = subprocess.Popen(["ip", "netns", "exec", router, sys.executable, "-m", "lab.net.delay_stage",
                                 json.dumps(settings.to_dict())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        self._procs.append(proc)
        said = b""
        deadline = time.monotonic() + timeout
        line = READY.encode() + b"\n"
        while time.monotonic() < deadline and line not in said:
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                said += chunk
        if line not in said:
            proc.kill()
            err = proc.communicate(timeout=5)[1].decode(errors="replace").strip().splitlines()
            raise NetlabError(f"the delay stage did not start in {router}: "
                              + (err[-1] if err else f"no answer within {timeout:g} s"))
        proc.stdout.close()
        proc.stderr.close()

    @staticmethod
    def _stage_settings(settings: LinkSettings) -> dict:
        return {"delay_ms": settings.delay_ms, "loss": settings.loss, "reorder": settings.reorder,
                "reorder_gap_ms": settings.reorder_gap_ms, "duplicate": settings.duplicate,
                "seed": settings.seed or 0}

    def stage_request(self, op: str, **fields) -> dict | None:
        """One request to the delay stage in the router; None when no stage is running there."""
        from lab.net.delay_stage import request

        if self.netns("router") not in self.existing():
            return None
        with self.inside("router"):
            try:
                return request(op, **fields)
            except (OSError, ValueError):
                return None

    def _stop_stage(self) -> None:
        """Ask a running delay stage to quit, and wait (bounded) until it has."""
        reply = self.stage_request("status")
        if reply is None:
            return
        self.stage_request("quit")
        deadline = time.monotonic() + 3
        while Path(f"/proc/{reply['pid']}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(reply["pid"], signal.SIGKILL)

    # -- changing things while up -------------------------------------------
    def remembered(self) -> dict:
        """The settings the lab was last configured with (kept as the alias of the router's lo); {} if none."""
        out = _run(["ip", "-n", self.netns("router"), "-j", "link", "show", "dev", "lo"], check=False).stdout
        try:
            return json.loads(json.loads(out)[0].get("ifalias", "{}"))
        except (ValueError, IndexError, KeyError, TypeError):
            return {}

    def set_loss(self, percent: int) -> None:
        """Change the router's loss while the lab is up (whatever the stage)."""
        settings = self._settings(loss=int(percent))
        stage = self.active_stage or self.remembered().get("stage", "nftables")
        if stage == "tun":
            reply = self.stage_request("set", settings={"loss": settings.loss})
            if reply is None or "error" in reply:
                raise NetlabError("the delay stage did not accept the new loss: "
                                  + (reply or {}).get("error", "it is not running"))
        elif stage == "netem":
            router = self.netns("router")
            for host in self.hosts[1:]:
                _run(["tc", "-n", router, "qdisc", "change", "dev", self.router_interface(host), "root", "handle", "1:",
                      *shaping.netem_args(settings)])
        else:
            self._apply_nft_loss(settings.loss)
        self.loss = settings.loss
        self.settings = settings

    def loss_counters(self) -> dict:
        """The router's loss counters (since the loss was last set, with nftables): loss, seen, dropped."""
        stage = self.active_stage or self.remembered().get("stage", "nftables")
        if stage == "tun":
            reply = self.stage_request("status") or {}
            counters = reply.get("counters", {})
            return {"loss": reply.get("settings", {}).get("loss"), "seen": counters.get("received"),
                    "dropped": counters.get("dropped_loss")}
        if stage == "netem":
            drops = self._qdisc_stats()
            return {"loss": self.settings.loss, "seen": None,
                    "dropped": sum(d.get("netem", 0) for d in drops.values())}
        text = _run(["ip", "netns", "exec", self.netns("router"), "nft", "list", "table", "inet", NFT_TABLE],
                    check=False).stdout
        return parse_loss_ruleset(text)

    def _qdisc_stats(self) -> dict:
        """Per router link: packets dropped by each kind of qdisc (tbf = the full queue)."""
        router = self.netns("router")
        stats = {}
        for host in self.hosts[1:]:
            dev = self.router_interface(host)
            out = _run(["tc", "-n", router, "-s", "-j", "qdisc", "show", "dev", dev], check=False).stdout
            try:
                stats[dev] = shaping.qdisc_drops(json.loads(out or "[]"))
            except ValueError:
                stats[dev] = {}
        return stats

    def down(self) -> None:
        """Remove the lab: stop its processes, delete its namespaces. Idempotent."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        self._procs.clear()
        for ns in self.existing():
            # Processes still inside a namespace would keep it (and its veths)
            # alive after `ip netns del`: end them, by pid, first.
            pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + 3
            while pids and time.monotonic() < deadline:
                pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
                time.sleep(0.05)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", ns], check=False)

    def __enter__(self) -> "Netlab":
        return self.up()

    def __exit__(self, *exc) -> None:
        if not self.keep:
            self.down()

    # -- using the hosts ----------------------------------------------------
    def exec(self, host: str, argv: Sequence[str], timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
        """Run ``argv`` on ``host`` and wait (at most ``timeout`` s); returns the CompletedProcess."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(["ip", "netns", "exec", self.netns(host), *argv], timeout=timeout, **kwargs)

    def popen(self, host: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` on ``host`` in the background; it is stopped by :meth:`down`."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns(host), *argv], **kwargs)
        self._procs.append(proc)
        return proc

    def inside(self, host: str):
        """Context manager: this thread's sockets are created in ``host`` (see inside_namespace)."""
        return inside_namespace(self.netns(host))

    def status(self) -> dict:
        """What is up now: hosts, addresses, the stage with its settings and counters, qdiscs."""
        existing = set(self.existing())
        hosts = []
        for host in self.hosts:
            ns = self.netns(host)
            entry = {"host": host, "netns": ns, "up": ns in existing, "addresses": []}
            if ns in existing:
                out = _run(["ip", "-n", ns, "-o", "-4", "addr", "show"], check=False).stdout
                entry["addresses"] = [f"{parts[1]} {parts[3]}" for parts in (l.split() for l in out.splitlines())
                                      if len(parts) > 3 and parts[1] != "lo"]
            hosts.append(entry)
        result = {"prefix": self.prefix, "up": self.is_up(), "hosts": hosts, "loss": None,
                  "forwarded": None, "dropped": None, "qdiscs": {}, "stage": None}
        router = self.netns("router")
        if router not in existing:
            return result
        remembered = self.remembered()
        stage = remembered.get("stage", "nftables")
        self.active_stage = stage
        drops = self._qdisc_stats()
        queue_drops = sum(d.get("tbf", 0) for d in drops.values())
        info = {"name": stage, "settings": {k: v for k, v in remembered.items() if k != "stage"},
                "counters": {"dropped_queue": queue_drops}}
        if stage == "tun":
            reply = self.stage_request("status")
            info["running"] = reply is not None
            if reply is not None:
                c = reply["counters"]
                info.update(pid=reply["pid"], cpu_seconds=reply["cpu_seconds"], held=reply["held"])
                info["settings"].update(reply["settings"])
                info["counters"].update(received=c["received"], forwarded=c["forwarded"],
                                        dropped_loss=c["dropped_loss"], dropped_full=c["dropped_full"],
                                        reordered=c["reordered"], duplicated=c["duplicated"])
                result.update(loss=reply["settings"]["loss"], forwarded=c["received"], dropped=c["dropped_loss"])
        elif stage == "netem":
            info["counters"]["dropped_netem"] = sum(d.get("netem", 0) for d in drops.values())
            result.update(loss=remembered.get("loss"), dropped=info["counters"]["dropped_netem"])
        else:
            text = _run(["ip", "netns", "exec", router, "nft", "list", "table", "inet", NFT_TABLE],
                        check=False).stdout
            parsed = parse_loss_ruleset(text)
            result.update(loss=parsed["loss"], forwarded=parsed["seen"], dropped=parsed["dropped"])
            info["counters"].update(received=parsed["seen"], dropped_loss=parsed["dropped"])
        result["stage"] = info
        for host in self.hosts[1:]:
            dev = self.router_interface(host)
            q = _run(["tc", "-n", router, "qdisc", "show", "dev", dev], check=False).stdout.strip()
            result["qdiscs"][dev] = " / ".join(line.strip() for line in q.splitlines())
        return result


def discover(prefix: str = DEFAULT_PREFIX) -> Netlab:
    """A Netlab object for a lab already up (the client count is read from the namespaces)."""
    probe = Netlab(prefix=prefix, clients=1)
    ks = [int(ns.rsplit("client", 1)[1]) for ns in probe.existing() if re.search(r"-client\d+$", ns)]
    return Netlab(prefix=prefix, clients=max(ks) if ks else 3)


_sigterm_lock = threading.Lock()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt in the block, so cleanup runs for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    with _sigterm_lock:
        old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
