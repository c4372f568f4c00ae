"""lab/net/sockopts.py: address family, receive timeout, unread bytes, bind errors, the file limit, closing a listener."""

from __future__ import annotations

import doctest
import errno
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from lab.net import sockopts
from lab.net.sockopts import (close_listener, explain_bind_error, family_for, raise_fd_limit, set_recv_timeout,
                               unread_bytes)
from tests.helpers.waiting import wait_for


def test_docstring_examples():
    assert doctest.testmod(sockopts).failed == 0


@pytest.mark.parametrize("host, family", [
    ("127.0.0.1", socket.AF_INET), ("0.0.0.0", socket.AF_INET), ("localhost", socket.AF_INET),
    ("::", socket.AF_INET6), ("::1", socket.AF_INET6), ("fe80::1%lo", socket.AF_INET6),
])
def test_family_for_an_address(host, family):
    assert family_for(host) == family


def test_a_socket_of_that_family_binds_the_address():
    for host in ("127.0.0.1", "::1"):
        if host == "::1" and not socket.has_ipv6:
            continue
        with socket.socket(family_for(host), socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, 0))
            except OSError as error:  # a machine with IPv6 switched off
                assert host == "::1" and error.errno == errno.EADDRNOTAVAIL
                continue
            assert sock.getsockname()[0] == host


def test_recv_timeout_bounds_recv_and_not_send():
    left, right = socket.socketpair()
    with left, right:
        set_recv_timeout(left, 2.5)
        # the kernel keeps it in clock ticks (jiffies): whole and half seconds come back exact
        assert struct.unpack("ll", left.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == (2, 500_000)
        assert left.gettimeout() is None, "the socket stays blocking: a send from another thread never times out"
        set_recv_timeout(left, 0.05)
        with pytest.raises(BlockingIOError):
            left.recv(10)  # nothing comes: the kernel ends the wait
        set_recv_timeout(left, 0)
        assert struct.unpack("ll", left.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == (0, 0)


def test_unread_bytes_counts_without_reading():
    left, right = socket.socketpair()
    with left, right:
        assert unread_bytes(left) == 0
        right.sendall(b"hello")
        deadline = time.monotonic() + 5
        while unread_bytes(left) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert unread_bytes(left) == 5
        assert unread_bytes(left) == 5, "counting does not consume"
        assert left.recv(2) == b"he"
        assert unread_bytes(left) == 3


def test_a_port_in_use_is_explained():
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        with socket.socket() as second:
            with pytest.raises(OSError) as caught:
                second.bind(("127.0.0.1", port))
    message = explain_bind_error(caught.value, "127.0.0.1", port)
    assert message == (f"port {port} is already in use on 127.0.0.1:{port} (another server is running there?): "
                       "stop it, or choose another port with --port")


def test_an_address_of_another_machine_is_explained():
    with socket.socket() as sock:
        with pytest.raises(OSError) as caught:
            sock.bind(("192.0.2.1", 0))  # TEST-NET-1 (RFC 5737): never an address of this machine
    assert explain_bind_error(caught.value, "192.0.2.1", 5050).startswith(
        "192.0.2.1 is not an address of this machine; use 0.0.0.0")


def test_other_bind_errors_keep_the_kernels_words():
    denied = OSError(errno.EACCES, "Permission denied")
    assert explain_bind_error(denied, "::", 80) == "not allowed to bind [::]:80: ports below 1024 need root; use --port 5050"
    odd = OSError(errno.EINVAL, "Invalid argument")
    assert explain_bind_error(odd, "127.0.0.1", 1) == "cannot listen on 127.0.0.1:1: Invalid argument"


def test_the_file_limit_is_raised_to_the_hard_limit_at_most():
    code = ("import resource; from lab.net.sockopts import raise_fd_limit; "
            "print(raise_fd_limit(1000), raise_fd_limit(50), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")

    def low_limits():  # what a locked-down account gets: soft 100, hard 300
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         preexec_fn=low_limits)
    assert out.stdout.split() == ["300", "300", "300"], out.stderr
    assert raise_fd_limit(10) >= 10, "never lowered"


def test_close_listener_wakes_a_thread_blocked_in_accept():
    listener = socket.create_server(("127.0.0.1", 0))
    failed: list[OSError] = []

    def accept() -> None:
        try:
            listener.accept()
        except OSError as error:
            failed.append(error)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    # the thread must be inside accept(), waiting in the kernel (Linux names the wait in wchan)
    wait_for(lambda: thread.native_id and "accept" in _wchan(thread.native_id), "the thread to block in accept()")
    close_listener(listener)
    thread.join(10)
    assert not thread.is_alive(), "accept() still blocked after close_listener()"
    assert listener.fileno() == -1
    close_listener(listener)  # twice is harmless


def _wchan(tid: int) -> str:
    try:
        with open(f"/proc/self/task/{tid}/wchan") as f:
            return f.read()
    except OSError:
        return ""
