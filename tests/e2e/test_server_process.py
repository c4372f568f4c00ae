"""The server and client as programs: start, stop, ports, errors a user understands."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.chat import ROOT, ChatServerProcess, LineClient, child_env, free_port


def run_chatlab(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_sigterm_stops_the_server_and_tells_members(tmp_path):
    server = ChatServerProcess(tmp_path)
    member = LineClient(server.port, "alice")
    assert server.stop(signal.SIGTERM) == 0
    member.expect(r"--- shutdown: the server is stopping")
    assert member.sock.recv(100) == b"", "after the goodbye the server closes the connection (FIN)"
    output = server.output()
    assert "Traceback" not in output and "server stopped" in output


def test_restart_binds_the_same_port_at_once(tmp_path):
    first = ChatServerProcess(tmp_path)
    member = LineClient(first.port, "alice")
    member.send("hello")
    assert first.stop() == 0
    member.close()  # leaves connections in TIME_WAIT on the server's port
    second = ChatServerProcess(tmp_path, port=first.port)
    LineClient(second.port, "bob").close()
    assert second.stop() == 0


def test_port_in_use_is_one_clear_line_and_nonzero_exit():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_chatlab("server", "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_client_connection_refused_is_one_clear_line():
    result = run_chatlab("client", "127.0.0.1", "--port", str(free_port()), "--name", "x")
    assert result.returncode == 1
    assert "connection refused" in result.stdout and "nothing is listening" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_server_logs_the_four_tuple_and_how_each_connection_ended(tmp_path):
    server = ChatServerProcess(tmp_path)
    try:
        client = LineClient(server.port, "alice")
        local = client.sock.getsockname()
        client.send("/quit bye")
        client.expect(r"--- bye:")
        accepted = server.wait_for(lambda e: e["kind"] == "accepted")
        assert tuple(accepted["client"]) == local, "the server sees the client's ephemeral port"
        assert accepted["server"][1] == server.port
        closed = server.wait_for(lambda e: e["kind"] == "closed")
        assert closed["how"] == "quit" and closed["lines_in"] == 2
        assert closed["bytes_in"] == len(b"alice\n/quit bye\n")
        if sys.platform.startswith("linux"):
            info = closed["tcp_info"]
            assert info is not None, "on Linux the server reads TCP_INFO of every connection before closing it"
            # read right after /quit, before the client closes: still open, or the client's FIN just came
            assert info["state"] in ("ESTABLISHED", "CLOSE_WAIT"), info
            assert info["rtt_ms"] > 0, "the hello and the welcome were acknowledged: the kernel measured an RTT"
            assert info["rto_ms"] >= 200, "Linux never lets the retransmission timeout go below 200 ms (TCP_RTO_MIN)"
            assert 0 < info["snd_mss"] <= 65483, "an MSS fits loopback's 65,536-byte MTU"
    finally:
        server.stop()


def test_client_reports_its_ephemeral_port_and_handshake(tmp_path):
    server = ChatServerProcess(tmp_path)
    events = tmp_path / "client-events.jsonl"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(server.port), "--name", "piped",
             "--events", str(events)],
            input="hello\n", cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stdout + result.stderr
        import json

        kinds = [json.loads(line) for line in events.read_text().splitlines()]
        connected = next(e for e in kinds if e["kind"] == "connected")
        accepted = server.wait_for(lambda e: e["kind"] == "accepted")
        assert connected["local"][1] == accepted["client"][1]
        assert connected["server"] == ["127.0.0.1", server.port]
        low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        assert connected["local"][0] == "127.0.0.1" and low <= connected["local"][1] <= high, \
            "the client's port is an ephemeral one, from the kernel's range"
        # a handshake takes some time, and less than the client's 10 s connect timeout
        assert 0 < connected["connect_ms"] < 10_000
        assert f"ephemeral port {connected['local'][1]}" in result.stdout
        # the log line shows the same number the event carries
        shown = f"connect() took {connected['connect_ms']:.2f} ms"
        assert shown in " ".join(result.stdout.split()), result.stdout
    finally:
        server.stop()


def test_a_low_file_descriptor_limit_is_raised_or_reported(tmp_path):
    import json
    import resource

    def low_hard_limit():  # what a locked-down account gets: soft 100, hard 300
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))

    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "server", "--host", "127.0.0.1", "--port", str(free_port()),
                             "--events", str(events)], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=low_hard_limit)
    try:
        deadline = time.monotonic() + 10
        notes = []
        while time.monotonic() < deadline and not notes:
            time.sleep(0.1)
            if events.exists():
                notes = [json.loads(l) for l in events.read_text().splitlines() if '"note"' in l]
        assert notes, "the server says that the limit caps the number of clients"
        assert "only 300 files" in notes[0]["text"] and "ulimit -n" in notes[0]["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def _start_variant(tmp_path: Path, flag: str, port: int) -> tuple[subprocess.Popen, Path]:
    output = tmp_path / f"server{flag}.txt"
    with open(output, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lab", "server", flag, "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    ready = "e.g.  chatlab load" if flag == "--naive" else "Ctrl-C stops it."
    deadline = time.monotonic() + 20
    while ready not in output.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, output.read_text()
        time.sleep(0.05)
    return proc, output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("flag", ["--naive", "--udp"])
def test_the_naive_and_udp_servers_stop_on_a_signal_and_exit_0(tmp_path, flag, sig):
    proc, output = _start_variant(tmp_path, flag, free_port())
    try:
        proc.send_signal(sig)
        assert proc.wait(10) == 0, output.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.read_text()
    assert "server stopped" in text and "Traceback" not in text


@pytest.mark.parametrize("flag", ["--naive", "--udp"])
def test_the_naive_and_udp_servers_say_a_port_in_use_in_one_line(flag):
    kind = socket.SOCK_DGRAM if flag == "--udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        if kind == socket.SOCK_STREAM:
            holder.listen()
        result = run_chatlab("server", flag, "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 1
    assert result.stdout.strip() == (f"chatlab server {flag}: port {port} is already in use on 127.0.0.1:{port} "
                                     "(another server is running there?): stop it, or choose another port with --port")
    assert "Traceback" not in result.stderr
