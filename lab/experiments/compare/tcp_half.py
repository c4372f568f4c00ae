"""The TCP half of the experiment (I/O): the scripted chat over the lab's ChatServer."""

from __future__ import annotations

import threading
import time
from typing import Callable

from lab.experiments.compare.accounting import (PORT, RECEIVER, SENDER, DeliveryAccount, message_index,
                                                message_text, tcp_in_flight)
from lab.peer import Peer, PeerError, is_event, is_info

# How long the receiver waits, after the last message was sent, for TCP to
# repair everything.  TCP itself does not give up for about 15 minutes
# (tcp_retries2), and its timer can back off that far: at 20 % loss per
# crossing, where a timeout's retransmission gets through only when its ACK
# does too (0.8 x 0.8), 6 TCP halves of 39 took over 13 s (measured
# 2026-12-02: 13.7, 14.2, 16.1, 19.9, 30.8 s, and one cut at 32 s, 61
# messages short).  What is still on its way then is reported as in flight,
# with the timers that hold it (docs/NETLAB.md, "When the receiver stops waiting").
TCP_DRAIN_TIMEOUT = 30.0


def run_tcp_half(server_ns: Callable, client_ns: Callable[[int], Callable], server_host: str,
                 messages: int, interval: float, set_loss: Callable[[bool], None],
                 port: int = PORT) -> dict:
    """The scripted chat over TCP with the lab's ChatServer. Returns the TCP result dict."""
    from lab.lifecycle import EventLog
    from lab.tcp.server import ChatServer, ServerConfig
    from lab.net.tcpinfo import read_tcp_info

    log = EventLog(verbosity=0)
    closed: list = []
    log.subscribe(lambda e: closed.append(e) if e.kind == "closed" else None)
    # The server's flood limit (10 lines/s) would pace our sender; the
    # experiment is about loss, so it is lifted here.
    config = ServerConfig(host=server_host, port=port, rate=1e6, burst=10**6, shutdown_grace=0.5)
    server = ChatServer(config, log=log)
    with server_ns():
        server.start()
    members: list[Peer] = []
    try:
        # Each member's socket is made inside its client's namespace; the
        # connection (a SYN over the lossy router) may need a few retries.
        # TCP_NODELAY (Peer's default): one segment per line, easier to see.
        with client_ns(2):
            receiver = Peer(server.address, RECEIVER, timeout=20)
            members.append(receiver)
        with client_ns(1):
            sender = Peer(server.address, SENDER, timeout=20)
            members.append(sender)
        receiver.expect(is_event(SENDER, "joined"), 10)
        account = DeliveryAccount()
        done = threading.Event()
        failure: list[str] = []

        def receive() -> None:
            deadline = time.monotonic() + messages * interval + TCP_DRAIN_TIMEOUT
            try:
                while time.monotonic() < deadline and not done.is_set():
                    for line in receiver.receive(0.1):
                        index = message_index(line)
                        if index is not None:
                            account.arrived(index, time.monotonic())
                    if len(account.first_arrival) >= messages:
                        return
                    if receiver.ended:
                        raise ConnectionError(f"the server ended the connection ({receiver.ended})")
            except (OSError, ConnectionError, PeerError) as exc:
                failure.append(str(exc))

        thread = threading.Thread(target=receive, name="tcp-receiver", daemon=True)
        set_loss(True)
        try:
            thread.start()
            start = time.monotonic()
            for i in range(1, messages + 1):
                _pace(start, i, interval)
                account.sent(i, time.monotonic())
                sender.send(message_text(i))
            thread.join(messages * interval + TCP_DRAIN_TIMEOUT + 1)
            done.set()
            # Read before anything else is sent: whoever still holds
            # unacknowledged data now is what the receiver was waiting for.
            hops = {"sender -> server": read_tcp_info(sender.sock), "server -> receiver": server.tcp_info_of(RECEIVER)}
        finally:
            set_loss(False)
        in_flight = None if failure else tcp_in_flight(
            len(account.send_times), set(account.first_arrival),
            {hop: info.to_dict() if info else None for hop, info in hops.items()})
        if in_flight:
            # Still retransmitting behind a backed-off timer: a "/quit" would
            # wait behind it too.  The counts now, then a reset, so that no
            # late retransmission crosses the router during the next rows.
            sender_info, receiver_info = read_tcp_info(sender.sock), read_tcp_info(receiver.sock)
            for member in (sender, receiver):
                member.reset()
        else:
            for member in (sender, receiver):
                try:
                    member.send("/quit")
                    member.expect(is_info("bye"), 5)
                except (OSError, TimeoutError, ConnectionError):
                    pass
            # The kernels' counts only now: the server's "bye" acknowledged every
            # byte, so no retransmission can follow.  Read when the last message
            # arrived, they missed the sender's late (spurious) retransmissions:
            # measured 22 against 40 segments on the wire, on a busy machine.
            sender_info = read_tcp_info(sender.sock)
            receiver_info = read_tcp_info(receiver.sock)
    finally:
        for member in members:
            member.close()
        server.stop()
    # stop() waits a bounded time for the reader threads; on a busy machine one
    # may report its connection closed (with its TCP_INFO) a little later.
    deadline = time.monotonic() + 5
    while len(closed) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    result = account.result()
    server_retrans = sum((e.tcp_info or {}).get("total_retrans", 0) for e in closed)
    kernel = {"sender": sender_info.total_retrans if sender_info else None,
              "receiver": receiver_info.total_retrans if receiver_info else None,
              "server": server_retrans}
    result["tcp_info_total_retrans"] = kernel
    result["retransmissions_tcp_info"] = sum(v for v in kernel.values() if v)
    result["in_order"] = result["out_of_order"] == 0 and result["duplicated"] == 0
    if in_flight:
        # Not lost: still in TCP's hands, behind a timer that had backed off.
        result["lost"] -= in_flight["messages"]
        result["in_flight"] = in_flight
        result["waited_s"] = round(messages * interval + TCP_DRAIN_TIMEOUT, 1)
    if failure:
        result["error"] = failure[0]
    return result


def _pace(start: float, i: int, interval: float) -> None:
    """Sleep until message ``i`` is due: a steady rate, not drifting with send times."""
    delay = start + (i - 1) * interval - time.monotonic()
    if delay > 0:
        time.sleep(delay)
