"""`chatlab tls init/show` and the --cafile/--cert/--key names, as a student follows README.

Real processes over real sockets, each with its own HOME (so ~/.config/chatlab/tls
is a temporary one) and run from a folder that has no ca.pem in it: issue 18
section 5 met "ca.pem does not exist" there, because `tls init` writes to the
per-user folder.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.helpers.chat import child_env, free_port

CHATLAB = Path(sys.executable).with_name("chatlab")


def _env(home: Path) -> dict:
    env = child_env()
    for name in ("XDG_CONFIG_HOME", "CHATLAB_TLS_DIR"):
        env.pop(name, None)
    env["HOME"] = str(home)
    return env


@pytest.fixture
def student(tmp_path):
    """A HOME and a working folder (like the kit's) with nothing TLS in it."""
    home, folder = tmp_path / "home", tmp_path / "kit"
    home.mkdir()
    folder.mkdir()
    return home, folder


def _run(argv: list[str], home: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHATLAB), *argv], cwd=folder, env=_env(home), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


class _Server:
    """`chatlab server ...` started in FOLDER; waits (bounded) for its first line."""

    def __init__(self, argv: list[str], home: Path, folder: Path):
        self.output = folder / f"server-{time.monotonic_ns()}.txt"
        with open(self.output, "w") as out:
            self.proc = subprocess.Popen([str(CHATLAB), *argv], cwd=folder, env=_env(home), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while "Clients can connect to" not in self.text():
            assert self.proc.poll() is None, f"the server exited {self.proc.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"the server did not start within 30 s:\n{self.text()}"
            time.sleep(0.05)

    def text(self) -> str:
        return self.output.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _chat_as(argv: list[str], name: str, home: Path, folder: Path) -> str:
    """Run a `chatlab client` command line in a terminal, join as NAME, /quit; return what it showed."""
    child = pexpect.spawn(str(CHATLAB), argv, cwd=str(folder), env=_env(home), encoding="utf-8", timeout=30,
                          dimensions=(50, 200))
    child.logfile_read = shown = io.StringIO()
    try:
        child.expect_exact(f"{name}> ")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF):
        raise AssertionError(f"`chatlab {shlex.join(argv)}` did not get into the chat:\n{shown.getvalue()}") from None
    finally:
        child.close(force=True)
    return shown.getvalue()


def test_tls_init_then_cafile_ca_pem_works_from_a_folder_without_ca_pem(student):
    home, folder = student
    init = _run(["tls", "init"], home, folder)
    assert init.returncode == 0, init.stderr
    assert not (folder / "ca.pem").exists()  # it went to ~/.config/chatlab/tls, and --cafile ca.pem still works
    port = str(free_port())
    server = _Server(["server", "--tls", "--port", port], home, folder)
    try:
        shown = _chat_as(["client", "127.0.0.1", "--port", port, "--tls", "--cafile", "ca.pem", "--name", "alice"],
                         "alice", home, folder)
    finally:
        server.stop()
    assert "chat-lab server (TLS)" in server.text()
    assert "server certificate verified" in shown, shown


def test_the_commands_tls_init_prints_work_as_printed(student, tmp_path):
    home, folder = student
    labdir = tmp_path / "elsewhere" / "tls"
    init = _run(["tls", "init", "--dir", str(labdir), "--ip", "192.0.2.7"], home, folder)
    assert init.returncode == 0, init.stderr
    printed = dict(re.findall(r"^(Start the server|Try it here|Students connect):\s+(chatlab .*)$", init.stdout,
                              re.MULTILINE))
    assert set(printed) == {"Start the server", "Try it here", "Students connect"}, init.stdout
    # The instructor's --ip is what students dial; their ca.pem sits where they saved it.
    assert printed["Students connect"] == "chatlab client 192.0.2.7 --tls --cafile ca.pem"
    assert f"--cafile {labdir / 'ca.pem'}" in printed["Try it here"]  # an absolute path: works from any folder
    # The printed commands, from another folder, on a free port (the default 5050 may be taken here).
    port = free_port()
    server_argv = shlex.split(printed["Start the server"])[1:] + ["--port", str(port)]
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    server = _Server(server_argv, home, elsewhere)
    try:
        shown = _chat_as(shlex.split(printed["Try it here"])[1:] + ["--port", str(port), "--name", "bob"], "bob",
                         home, elsewhere)
    finally:
        server.stop()
    assert "server certificate verified" in shown, shown
    assert all(len(line) <= 80 for line in init.stdout.splitlines() if not re.search(r"/|SHA-256|valid until", line)), \
        "a line of `tls init` (other than paths and the fingerprint) is wider than 80 columns"


def test_a_ca_pem_that_is_nowhere_is_one_line_naming_both_places(student):
    home, folder = student
    done = _run(["client", "127.0.0.1", "--port", str(free_port()), "--tls", "--cafile", "ca.pem", "--name", "x"],
                home, folder)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    said = (done.stdout + done.stderr).strip()
    assert said.startswith("chatlab client: ca.pem is neither in this folder") and said.count("chatlab") == 3, said
    one_line = " ".join(said.splitlines())  # rich wraps it at the terminal's width, between words
    assert str(folder) in one_line and str(home / ".config" / "chatlab" / "tls") in one_line, said


def test_a_ca_pem_in_the_current_folder_wins_over_the_lab_folder(student, tmp_path):
    # A student saved the instructor's ca.pem here; their own old lab CA is in ~/.config.
    home, folder = student
    assert _run(["tls", "init"], home, folder).returncode == 0
    instructor = tmp_path / "instructor"
    assert _run(["tls", "init", "--dir", str(instructor)], home, folder).returncode == 0
    (folder / "ca.pem").write_bytes((instructor / "ca.pem").read_bytes())
    port = str(free_port())
    server = _Server(["server", "--tls", "--port", port, "--cert", str(instructor / "server.pem"),
                      "--key", str(instructor / "server-key.pem")], home, folder)
    try:
        _chat_as(["client", "127.0.0.1", "--port", port, "--tls", "--cafile", "ca.pem", "--name", "carol"],
                 "carol", home, folder)
    finally:
        server.stop()


def test_tls_show_checks_a_certificate_against_the_ca_beside_it(student, tmp_path):
    home, folder = student
    assert _run(["tls", "init"], home, folder).returncode == 0  # the default lab CA: a different one
    other = tmp_path / "OTHER"
    assert _run(["tls", "init", "--dir", str(other)], home, folder).returncode == 0
    shown = _run(["tls", "show", str(other / "server.pem")], home, folder)
    assert shown.returncode == 0, shown.stderr
    assert f"signed by {other / 'ca.pem'}: yes" in shown.stdout, shown.stdout
    assert "NO:" not in shown.stdout


def test_tls_show_uses_the_ca_named_on_the_command_line(student, tmp_path):
    home, folder = student
    assert _run(["tls", "init"], home, folder).returncode == 0
    other = tmp_path / "OTHER"
    assert _run(["tls", "init", "--dir", str(other)], home, folder).returncode == 0
    default_ca = home / ".config" / "chatlab" / "tls" / "ca.pem"
    shown = _run(["tls", "show", str(other / "server.pem"), str(default_ca)], home, folder)
    assert shown.returncode == 0, shown.stderr
    assert f"signed by {default_ca}: NO: clients trusting this CA will refuse it" in shown.stdout, shown.stdout


def test_tls_show_of_a_lone_certificate_says_what_it_could_not_check(student, tmp_path):
    home, folder = student
    other = tmp_path / "OTHER"
    assert _run(["tls", "init", "--dir", str(other)], home, folder).returncode == 0
    lone = folder / "server.pem"
    lone.write_bytes((other / "server.pem").read_bytes())
    os.remove(other / "ca.pem")
    shown = _run(["tls", "show", str(lone)], home, folder)
    assert shown.returncode == 0, shown.stderr
    assert "signed by:    not checked" in shown.stdout, shown.stdout


def test_server_cert_and_key_by_file_name_come_from_the_lab_folder(student):
    home, folder = student
    assert _run(["tls", "init"], home, folder).returncode == 0
    port = str(free_port())
    server = _Server(["server", "--tls", "--port", port, "--cert", "server.pem", "--key", "server-key.pem"],
                     home, folder)
    try:
        _chat_as(["client", "localhost", "--port", port, "--tls", "--name", "dave"], "dave", home, folder)
    finally:
        server.stop()
