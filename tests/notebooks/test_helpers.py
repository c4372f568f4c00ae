"""The notebooks' helpers (lab/notebook/) that decide things, tested without a notebook."""

from __future__ import annotations

import socket

from lab import notebook as nb

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:13BA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1
   1: 0100007F:13BA 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 12346 1
   2: 0100007F:C350 0100007F:13BA 06 00000000:00000000 03:00001770 00000000     0        0 0 3
"""


def test_proc_net_tcp_is_decoded_like_ss():
    rows = nb.parse_proc_net_tcp(PROC_NET_TCP)
    assert rows == [
        {"local": "127.0.0.1:5050", "remote": "0.0.0.0:0", "state": "LISTEN"},
        {"local": "127.0.0.1:5050", "remote": "127.0.0.1:50000", "state": "ESTABLISHED"},
        {"local": "127.0.0.1:50000", "remote": "127.0.0.1:5050", "state": "TIME_WAIT"},
    ]


def test_sockets_sees_a_real_listening_socket():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert {"local": f"127.0.0.1:{port}", "remote": "0.0.0.0:0", "state": "LISTEN"} in nb.sockets(port)
    assert nb.sockets(port) == []


def test_tls_records_reads_headers_and_stops_at_garbage():
    hello = bytes([22, 3, 1, 0, 4, 1, 0, 0, 0])          # Handshake, ClientHello
    data = bytes([23, 3, 3, 0, 3]) + b"\x99\x98\x97"        # ApplicationData
    records = nb.tls_records(hello + data + b"plain text")
    assert [r["type"] for r in records] == ["Handshake (ClientHello, readable)", "ApplicationData (encrypted)"]
    assert [r["length"] for r in records] == [4, 3]
    assert nb.tls_records(b"hello\r\n") == []


def test_find_text():
    assert nb.find_text(b"xx my password is hunter2 yy", "hunter2").startswith("found 'hunter2' at byte 18")
    assert "does not appear" in nb.find_text(b"\x17\x03\x03", "hunter2")


def test_try_bind_reports_a_port_in_use():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert "failed: [Errno 98]" in nb.try_bind(port, reuseaddr=True)
    assert "succeeded" in nb.try_bind(port, reuseaddr=False)


def test_recorded_capture_replays_the_notebook_steps(monkeypatch):
    """Without live capture, step k shows what step k showed when the lesson was recorded."""
    monkeypatch.setenv(nb.FORCE_RECORDED_ENV, "1")
    cap = nb.Capture(0, "01-handshake")
    assert not cap.live
    steps = cap.steps
    assert steps, "the recording has no steps"
    seen = []
    for _ in steps:
        seen.append(len(cap.next_step()))
    assert seen == steps
    assert cap.stream(0).summary()["handshake"] == "complete"
    cap.stop()
