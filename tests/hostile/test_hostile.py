"""A class full of mischievous clients: every bad input against a running server.

Each test attacks a real server over real sockets, checks the documented
outcome (docs/ROBUSTNESS.md has the table), and checks that the other
members still chat.  Every loop is bounded in count and time.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from tests.helpers.chat import LineClient


def port_of(server):
    return server.address[1]


def still_chatting(server, *members):
    """The named members can still exchange a message both ways."""
    first, second = members
    token = f"still-ok-{time.monotonic_ns()}"
    first.send(token)
    second.expect(token)


def closed_event(server, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in server.log.of_kind("closed"):
            if event.name == name:
                return event
        time.sleep(0.02)
    raise AssertionError(f"no close recorded for {name}; events: {[e.to_dict() for e in server.log.events]}")


# --- slow readers --------------------------------------------------------------

def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(start_server):
    server = start_server(sndbuf=4096, send_queue=16 * 1024, rate=100_000, burst=1000)
    alice, bob = LineClient(port_of(server), "alice"), LineClient(port_of(server), "bob")
    # A client that never reads, with a tiny receive buffer so the backlog
    # really builds up on the server side.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled.connect(("127.0.0.1", port_of(server)))
    stalled.sendall(b"stalled\n")
    alice.expect("stalled joined")
    sent = [f"line {i:04d} " + "x" * 200 for i in range(400)]  # about 90 KB for each member
    for text in sent:
        alice.send(text)
        time.sleep(0.001)
    got, notices = [], []
    while len(got) < len(sent):
        line = bob.expect(r"<alice> line \d{4}|\*\*\* stalled left")
        (got.append(line.split("<alice> ")[1]) if "<alice>" in line else notices.append(line))
    assert got == sent, "bob must receive every line, in order, while the stalled client is backed up"
    if not notices:
        notices.append(bob.expect(r"\*\*\* stalled left"))
    assert notices == [notices[0]] and notices[0].endswith("stalled left (dropped: send queue exceeded)")
    assert closed_event(server, "stalled").detail == "send queue exceeded"
    still_chatting(server, alice, bob)
    stalled.close()


# --- line limits -----------------------------------------------------------------

def test_an_oversized_line_gets_an_error_and_the_session_goes_on(start_server):
    server = start_server()
    alice, bob = LineClient(port_of(server), "alice"), LineClient(port_of(server), "bob")
    alice.send("A" * 5000)
    alice.expect(r"!!! line-too-long: your line had 5000 bytes, the limit is 1024")
    still_chatting(server, alice, bob)
    assert not any("AAAA" in line for line in bob.lines(0.3))


def test_bytes_without_a_line_end_close_the_connection(start_server):
    server = start_server()
    alice, bob = LineClient(port_of(server), "alice"), LineClient(port_of(server), "bob")
    try:
        for _ in range(10):
            alice.send(b"B" * 1000)  # 10 kB, never a newline
    except OSError:
        pass
    alice.expect(r"!!! line-too-long: 8192 bytes without a line end")
    bob.expect(r"\*\*\* alice left \(dropped: no line end in 8192 bytes\)")


def test_memory_stays_flat_under_a_long_unterminated_stream(start_server):
    server = start_server(max_unterminated=10_000_000)
    alice = LineClient(port_of(server), "alice")
    chunk = b"C" * 65536
    for _ in range(100):  # 6.5 MB without a newline
        alice.send(chunk)
    alice.send("\n")
    alice.expect("line-too-long")
    with server._lock:
        [conn] = list(server._connections)
    # the decoder kept at most one line's worth, whatever the stream's length
    assert conn.bytes_in >= 100 * 65536


# --- input hygiene -----------------------------------------------------------------

@pytest.mark.parametrize("attack,shown", [
    (b"\x1b[2J\x1b[31mred alert\x1b[0m\n", "red alert"),
    (b"\x1b]0;you are hacked\x07title\n", "title"),
    (b"\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\\n", "link"),
    (b"[bold red]not bold[/bold red]\n", "[bold red]not bold[/bold red]"),
    (b"bad \xc3\x28 utf-8 \xfe\n", "bad \ufffd( utf-8 \ufffd"),
    (b"iac \xff\xfe\x01eaten\n", "iac eaten"),  # 255 starts a telnet command, never UTF-8
    (b"nul\x00byte\n", "nulbyte"),
    (b"\xff\xfb\x01telnet\xff\xf4 iac\n", "telnet iac"),
    (b"bell\x07\x08\x7f\n", "bell"),
    (b"rtl \xe2\x80\xaeevil\n", "rtl evil"),
    (b"c1 \xc2\x9b31mcsi\n", "c1 csi"),  # U+009B is the 8-bit CSI: a whole sequence goes
    (b"cr only\r", "cr only"),
    (b"crlf\r\n", "crlf"),
])
def test_hostile_text_is_cleaned_before_it_is_relayed(start_server, attack, shown):
    server = start_server()
    alice, bob = LineClient(port_of(server), "alice"), LineClient(port_of(server), "bob")
    alice.send(attack)
    line = bob.expect(r"<alice> ")
    assert line.split("<alice> ", 1)[1] == shown
    assert all(ord(c) >= 32 and not 0x7f <= ord(c) <= 0x9f for c in line)
    # ... and what is kept in history is the cleaned text too
    late = LineClient(port_of(server), "late")
    late.expect(r"<alice> " + __import__("re").escape(shown))


# --- names -----------------------------------------------------------------------

def test_names_are_unique_ignoring_case_and_the_client_may_retry(start_server):
    server = start_server()
    alice = LineClient(port_of(server), "Alice")  # noqa: F841 - keeps the name taken
    other = LineClient(port_of(server))
    other.expect("--- hello:")
    other.send("aLiCe")
    other.expect(r"!!! name-taken: 'Alice' is online already")
    other.send("<script>")
    other.expect(r"!!! name-invalid: .* starts with a letter")
    other.send("alice2")
    other.expect(r"--- welcome: you are alice2")


# --- floods ------------------------------------------------------------------------

def test_a_flooder_is_throttled_without_losing_anything_and_others_are_unaffected(start_server):
    server = start_server(rate=50, burst=10)
    flooder, bob, carol = (LineClient(port_of(server), n) for n in ("flooder", "bob", "carol"))
    for i in range(150):
        flooder.send(f"flood {i}")
    flooder.expect(r"!!! flood: you send more than 50 lines/s")
    carol.send("carol gets through")
    lines = []
    while sum("<flooder>" in line for line in lines) < 150:
        lines.append(bob.expect(r"<flooder> flood \d+|<carol>"))
    got = [int(line.rsplit(" ", 1)[1]) for line in lines if "<flooder>" in line]
    assert got == list(range(150)), "throttling delays lines; it never drops or reorders them"
    carol_at = next(i for i, line in enumerate(lines) if "<carol>" in line)
    assert carol_at < len(lines) - 1, "carol's line is not held back behind the flooder's backlog"


# --- limits and timeouts ------------------------------------------------------------

def test_server_full_is_said_and_the_connection_closed(start_server):
    server = start_server(max_clients=2)
    a, b = LineClient(port_of(server), "a"), LineClient(port_of(server), "b")
    third = LineClient(port_of(server))
    third.expect(r"!!! server-full: the server has its maximum of 2 clients")
    assert third.sock.recv(100) == b""
    still_chatting(server, a, b)


def test_a_client_that_never_sends_a_name_is_dropped_after_the_timeout(start_server):
    server = start_server(name_timeout=0.5)
    silent = LineClient(port_of(server))
    silent.expect("--- hello:")
    silent.expect(r"!!! timeout: you did not choose a name within 0.5 s", timeout=10)
    assert silent.sock.recv(100) == b""
    event = closed_event(server, None)
    assert event.how == "timeout"


def test_the_name_timeout_bounds_the_whole_wait_not_each_read(start_server):
    # One byte of a name every 0.1 s, never a line end: every recv() returns
    # well within the timeout, but no name ever comes.  (A timeout on each
    # recv(), SO_RCVTIMEO, never fired for this client.)
    server = start_server(name_timeout=0.5)
    trickler = LineClient(port_of(server))
    trickler.expect("--- hello:")
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.1):
            try:
                trickler.sock.send(b"a")
            except OSError:  # the server closed: done
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        trickler.expect(r"!!! timeout: you did not choose a name within 0.5 s", timeout=10)
    finally:
        stop.set()
        thread.join(5)
    event = closed_event(server, None)
    assert (event.how, event.detail) == ("timeout", "no name within 0.5 s")
    first, second = LineClient(port_of(server), "late"), LineClient(port_of(server), "later")
    still_chatting(server, first, second)  # the server goes on serving


# --- faults --------------------------------------------------------------------------

def abort(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_reset_mid_line_gives_one_leave_notice_and_nothing_half_relayed(start_server):
    server = start_server()
    alice, bob = LineClient(port_of(server), "alice"), LineClient(port_of(server), "bob")
    alice.send(b"half a line without its end")
    time.sleep(0.1)
    abort(alice.sock)
    bob.expect(r"\*\*\* alice left \(reset: the connection was reset, RST\)")
    later = bob.lines(0.5)
    assert not any("half a line" in line or "alice left" in line for line in later)
    bob.send("/list")
    bob.expect(r"--- list: 1 online: bob")


def test_tls_hello_on_the_plain_port_is_closed_cleanly(start_server):
    import ssl

    server = start_server()
    bob = LineClient(port_of(server), "bob")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        context.wrap_socket(raw, server_hostname="localhost")
    event = closed_event(server, None)
    assert event.how == "dropped" and "TLS ClientHello" in event.detail
    bob.send("/list")
    bob.expect("1 online: bob")


def test_many_simultaneous_connects_and_disconnects_leave_a_consistent_room(start_server):
    server = start_server()
    watcher = LineClient(port_of(server), "watcher")
    clients = []
    for i in range(60):
        client = LineClient(port_of(server), f"m{i}")
        clients.append(client)
    for i, client in enumerate(clients):
        if i % 3 == 0:
            abort(client.sock)  # RST
        elif i % 3 == 1:
            client.send("/quit")  # orderly
        else:
            client.sock.close()  # FIN
    deadline = time.monotonic() + 20
    while server.connection_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connection_count() == 1
    lines = watcher.lines(0.5)
    for i in range(60):
        assert sum(f"*** m{i} left" in line for line in lines) == 1, f"m{i}: exactly one leave notice"
    watcher.send("/list")
    watcher.expect(r"--- list: 1 online: watcher")
