"""A place to run the documentation's commands as written, without touching anything of the user's.

A ``Sandbox`` is:

* a **copy of the kit** (its git-tracked files as they are in the working tree,
  or the student release `chatlab release` makes), so `make exercises`,
  `chatlab release --output ../x` or `chatlab demo` write into the copy.  Its
  ``.venv/`` is a folder of links to the venv running the tests, with a fresh
  ``.installed-dev`` stamp, so `make` never rebuilds it;
* a **temporary HOME** (`chatlab tls init` writes to ``~/.config/chatlab/tls``);
* a **network namespace and a mount namespace of its own** (``unshare``): the
  documented fixed ports (5050, 5051, 5443) never meet another test's or the
  user's server, the documented LAN address 192.168.1.20 exists (on lo), and
  `chatlab netlab up` makes its namespaces under a private ``/run/netns``.
  A holder process keeps the namespaces alive; every command enters them
  with ``nsenter``.  ``close()`` ends every process left in the namespaces a
  command made (netlab's delay stage stays up on purpose) and deletes them;
  then the holder and the commands end, and the namespaces and everything in
  them (netlab's hosts, routes, nftables rules) are gone.  If the test process
  crashes, the commands still die with it (``PR_SET_PDEATHSIG``: SIGKILL when
  the test process dies), but not a process they detached.

Commands run with ``bash -c``, as typed at a prompt, with ``chatlab`` (and
``python``) being the venv's, as after ``. .venv/bin/activate``.  Where
``sudo`` is not installed, a stand-in does to PATH what Debian's sudo does
(its ``secure_path``), so `sudo chatlab ...` behaves as it would for a reader.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAN_ADDRESS = "192.168.1.20/24"  # the instructor's address in docs/INSTRUCTOR.md and docs/TLS.md
# Debian's and Ubuntu's default `Defaults secure_path` in /etc/sudoers.
SUDO_SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SUDO_STAND_IN = f"""#!/bin/sh
# Not sudo: a stand-in for a machine without it, used as root by tests/docs.
# It does what sudo does to the environment that matters here: PATH becomes
# secure_path, so a command only in the venv is not found, as with real sudo.
exec env PATH={SUDO_SECURE_PATH} "$@"
"""
_SKIP_COPY = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "student-release", "build"}


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL this process when the test process dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tracked_files(root: Path) -> list[str]:
    """The kit's git-tracked files that exist in the working tree (else every file but caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60).stdout
        return sorted(p for p in out.decode().split("\0") if p and (root / p).is_file())
    except (OSError, subprocess.SubprocessError):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if p.is_file() and not _SKIP_COPY & set(p.relative_to(root).parts))


def copy_kit(target: Path, kind: str) -> Path:
    """The kit in TARGET: ``kind`` "full" (a copy of the working tree) or
    "student" (what `chatlab release` hands out).  Returns its folder."""
    if kind == "student":
        done = subprocess.run([sys.executable, "-m", "lab", "release", "--output", str(target)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"could not make the student release: {done.stderr or done.stdout}")
    else:
        for rel in tracked_files(ROOT):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target / rel)
    _link_venv(target / ".venv")
    return target


def _link_venv(venv: Path) -> None:
    """``.venv/`` made of links to the running venv, and a stamp newer than pyproject.toml."""
    real = Path(sys.prefix)
    if real == Path(sys.base_prefix):
        raise AssertionError("the tests must run in the kit's venv (`make test`, or .venv/bin/python -m pytest)")
    venv.mkdir()
    for entry in real.iterdir():
        if entry.name != ".installed-dev":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed-dev").touch()  # the Makefile's stamp: the venv is up to date


class Background:
    """A command left running (a server, a client): its output, its first lines, its stop."""

    def __init__(self, sandbox: "Sandbox", command: str, tty: bool):
        self.command, self.tty = command, tty
        argv = sandbox.argv(command)
        if tty:
            import pexpect

            self.child = pexpect.spawn(argv[0], argv[1:], cwd=str(sandbox.kit), env=sandbox.env, encoding="utf-8",
                                       timeout=5, dimensions=(50, 100), preexec_fn=_die_with_parent)
            self.child.logfile_read = self._shown = io.StringIO()
            self.proc = None
        else:
            self.log = sandbox.tmp / f"output-{time.monotonic_ns()}.txt"
            with open(self.log, "w") as out:
                self.proc = subprocess.Popen(argv, cwd=sandbox.kit, env=sandbox.env, stdout=out,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, preexec_fn=_die_with_parent)

    def output(self) -> str:
        if self.tty:
            import pexpect

            try:
                while True:  # drain what arrived; logfile_read keeps it
                    self.child.read_nonblocking(65536, timeout=0)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
            return self._shown.getvalue()
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.child.isalive() if self.tty else self.proc.poll() is None

    def wait_for(self, pattern, timeout: float) -> str | None:
        """Wait (at most TIMEOUT s) until PATTERN (a compiled regex) is in the output.
        None when it came; else what went wrong, in words."""
        deadline = time.monotonic() + timeout
        while not pattern.search(self.output()):
            if not self.running():
                return None if pattern.search(self.output()) else f"ended before printing /{pattern.pattern}/"
            if time.monotonic() > deadline:
                return f"did not print /{pattern.pattern}/ within {timeout:g} s"
            time.sleep(0.05)
        return None

    def stop(self, timeout: float = 20) -> int | None:
        """Ctrl-C, as its user would; SIGKILL if it is still there after TIMEOUT.  The exit status."""
        if self.tty:
            if self.child.isalive():
                self.child.sendintr()
                deadline = time.monotonic() + timeout
                while self.child.isalive() and time.monotonic() < deadline:
                    self.output()
                    time.sleep(0.05)
            self.output()
            self.child.close(force=True)
            return self.child.exitstatus
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


class Sandbox:
    """See the module docstring.  ``close()`` (or ``with``) ends everything it started."""

    def __init__(self, tmp: Path, kit: str = "full"):
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.kit = copy_kit(tmp / "kit", kit)
        bin_dirs = [str(self.kit / ".venv" / "bin")]
        if shutil.which("sudo") is None:
            stand_in = tmp / "no-sudo"
            stand_in.mkdir()
            (stand_in / "sudo").write_text(_SUDO_STAND_IN)
            (stand_in / "sudo").chmod(0o755)
            bin_dirs.append(str(stand_in))
        self.env = {
            "PATH": ":".join(bin_dirs + [SUDO_SECURE_PATH]), "HOME": str(self.home), "USER": "root",
            "LANG": "C.UTF-8", "TERM": "dumb", "COLUMNS": "100", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1",
        }
        if os.environ.get("CI"):
            self.env["CI"] = os.environ["CI"]
        self.started: list[Background] = []
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c",
             "set -e; mkdir -p /run/netns; mount -t tmpfs chatlab-docs-test /run/netns; ip link set lo up; "
             f"ip addr add {LAN_ADDRESS} dev lo; echo ready; exec sleep 3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        ready = ""
        if select.select([self.holder.stdout], [], [], 30)[0]:  # a bounded wait for "ready" (or sh's exit)
            ready = self.holder.stdout.readline()
        if ready.strip() != "ready":
            self.holder.kill()
            self.holder.wait(10)
            raise AssertionError(f"could not make the test's namespaces: {self.holder.stderr.read().strip()}")

    def argv(self, command: str) -> list[str]:
        """COMMAND, as typed at a bash prompt in the kit's folder, inside the namespaces."""
        return ["nsenter", f"--target={self.holder.pid}", "--net", "--mount", f"--wd={self.kit}", "--",
                "bash", "-c", command]

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run COMMAND to its end (at most TIMEOUT s); its exit status and output (stdout + stderr)."""
        proc = subprocess.Popen(self.argv(command), cwd=self.kit, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise AssertionError(f"`{command}` did not finish within {timeout:g} s:\n"
                                 f"{out.decode(errors='replace')}") from None
        return proc.returncode, out.decode(errors="replace")

    def start(self, command: str, tty: bool = False) -> Background:
        """Start COMMAND and leave it running (stopped by ``close()``)."""
        started = Background(self, command, tty)
        self.started.append(started)
        return started

    def close(self) -> None:
        for started in reversed(self.started):
            started.stop()
        if self.holder.poll() is None:
            self._end_named_namespaces()
            self.holder.kill()
        self.holder.wait()
        for stream in (self.holder.stdout, self.holder.stderr):
            stream.close()

    def _end_named_namespaces(self) -> None:
        """End every process in the namespaces a command named under the sandbox's /run/netns, then delete them.

        `chatlab netlab up` leaves its delay stage running in the lab's router
        on purpose (the lab stays up after the command), in a session of its
        own: neither Ctrl-C nor PR_SET_PDEATHSIG reaches it (the death signal
        is not inherited across fork).  Killing the holder would only unmount
        the names; the stage would live on, in a namespace nobody can see.
        """
        script = ('for ns in $(ip netns list | cut -d" " -f1); do '
                  'for pid in $(ip netns pids "$ns"); do kill -9 "$pid"; done; ip netns del "$ns"; done')
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(["nsenter", f"--target={self.holder.pid}", "--net", "--mount", "--", "sh", "-c", script],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
