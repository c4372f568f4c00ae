"""The live freeze exhibit, run exactly as docs/INSTRUCTOR.md gives it (issue 18 section 1).

The commands are parsed out of docs/INSTRUCTOR.md, so the doc and this test
cannot drift; lesson 4 and the naive server's own hint must give the same
ones.  They run unchanged (ports 5051 and 5050 included) in a network
namespace of their own, where those ports are surely free and nothing else
on the machine can disturb them.  The verdicts are read from the load's
report: no timing is asserted.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.chat import ROOT, child_env

INSTRUCTOR = ROOT / "docs" / "INSTRUCTOR.md"
LESSON_4 = ROOT / "tools" / "lessons" / "04_threaded_server.py"


def documented_commands() -> list[str]:
    """The four commands of INSTRUCTOR.md's `chatlab load` live demo, comments removed."""
    text = INSTRUCTOR.read_text()
    start = text.index("**`chatlab load`** shows the slow-client lesson")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block, "INSTRUCTOR.md: the `chatlab load` demo has no ```sh block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return [command for command in commands if command]


def test_the_docs_and_lesson_4_give_the_same_commands():
    naive, load_naive, reference, load_reference = documented_commands()
    assert naive == "chatlab server --naive --port 5051"
    assert load_naive == load_reference.replace("--port 5050", "--port 5051"), "the same load against both servers"
    assert reference == "chatlab server --port 5050"
    lesson = LESSON_4.read_text()
    assert naive in lesson and load_naive in lesson, "lesson 4 must give the commands of docs/INSTRUCTOR.md"


class Namespace:
    """A network namespace with its loopback up, removed in ``close()`` (and by the fixture, whatever happens)."""

    def __init__(self):
        self.name = f"chatlab-freeze-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=30)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, timeout=30)

    def argv(self, command: str) -> list[str]:
        """A documented command, word for word, run inside the namespace (`chatlab` is `python -m lab`)."""
        words = shlex.split(command)
        assert words[0] == "chatlab"
        return ["ip", "netns", "exec", self.name, sys.executable, "-m", "lab", *words[1:]]

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], timeout=30)


@pytest.fixture
def netns():
    namespace = Namespace()
    yield namespace
    namespace.close()


class Server:
    """A documented `chatlab server` command in the namespace, its output in a file (a pipe could fill up)."""

    def __init__(self, netns: Namespace, command: str, log: Path):
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(netns.argv(command), cwd=ROOT, env=child_env(), stdout=out,
                                         stderr=subprocess.STDOUT)

    @property
    def output(self) -> list[str]:
        return self.log.read_text().splitlines()

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The first output line with ``text``, waiting for it at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.output if text in line]
            if found:
                return found[0]
            assert time.monotonic() < deadline and self.proc.poll() is None, \
                f"the server never said {text!r}: {self.output}"
            time.sleep(0.05)

    def ctrl_c(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(20)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def run_load(netns: Namespace, command: str) -> tuple[int, str]:
    done = subprocess.run(netns.argv(command), cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=180)
    return done.returncode, " ".join((done.stdout + done.stderr).split())  # rich wraps lines: compare words


@pytest.mark.privileged
@pytest.mark.slow
def test_the_documented_commands_freeze_the_naive_server_and_not_the_reference(netns, tmp_path):
    naive, load_naive, reference, load_reference = documented_commands()

    server = Server(netns, naive, tmp_path / "naive.txt")
    try:
        hint = server.wait_for("e.g.  chatlab load")
        assert hint.split("e.g.", 1)[1].strip() == load_naive, "the naive server suggests the documented load"
        status, report = run_load(netns, load_naive)
        assert server.ctrl_c() == 0, server.output
    finally:
        server.kill()
    assert status == 1, f"reach below 1 is a failed load test: {report}"
    assert "FROZEN:" in report, ("one stalled client must freeze the naive server within the documented run; "
                                 f"the load reported: {report}")
    frozen = re.search(r"although only (S\w+) stopped reading, and the server never dropped it", report)
    assert frozen, f"the verdict names the client that stopped reading: {report}"
    assert "bytes unread" in report, "the verdict says what the stalled client left unread"
    assert "blocking sendall() while it holds a lock" in report and "ss -tn 'sport = :5051'" in report

    server = Server(netns, reference, tmp_path / "reference.txt")
    try:
        server.wait_for("Ctrl-C stops the server.")
        status, report = run_load(netns, load_reference)
        assert server.ctrl_c() == 0, server.output
    finally:
        server.kill()
    assert "HEALTHY:" in report, f"the reference server drops the stalled client and carries on: {report}"
    assert re.search(r"dropped the stalled client S\w+ \(dropped: send queue exceeded\)", report), report
    assert re.search(r"\breach\W+1\.0000 ", report), report
    assert status == 0, report
