"""The server and client as programs: start, stop, ports, errors a user understands."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import sys

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
        if sys.platform.startswith("linux"):  # TCP_INFO exists on Linux: the server must report it
            info = closed["tcp_info"]
            assert info is not None, "the server read no TCP_INFO on Linux"
            # read just before the server closes: the client has not closed yet, or its FIN just came
            assert info["state"] in ("ESTABLISHED", "CLOSE_WAIT"), info
            # (no retransmission count asserted: on loopback a tail loss probe may fire with nothing lost)
            assert isinstance(info["total_retrans"], int) and info["rtt_ms"] >= 0, info
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
        assert connected["connect_ms"] > 0
        # the log line shows the same number the event carries, and what it measures
        shown = f"connect() took {connected['connect_ms']:.2f} ms"
        assert shown in " ".join(result.stdout.split()), result.stdout
        assert f"ephemeral port {connected['local'][1]}" in result.stdout
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
