"""`chatlab load` end to end, against real servers on loopback (no timing assertions)."""

from __future__ import annotations

import socket
import sys


from tests.helpers.load import chatlab_load


def test_everything_arrives_once_in_order_on_the_naive_server(start_server):
    server = start_server(naive=True, nodelay=True)
    status, report, err = chatlab_load(server.address[1], "--clients", "20", "--senders", "3", "--rate", "5",
                                       "--duration", "3", "--ramp", "1", "--json")
    assert status == 0, err
    assert report["connect"]["registered"] == 20 and report["connect"]["failed"] == 0
    assert report["connect"]["bots"] == 0, "the naive server answers /bot with unknown-command: nobody is marked"
    assert report["messages_sent"] > 0
    assert report["expected"] == report["messages_sent"] * 19  # everyone else receives each message
    assert report["reach"] == 1.0
    assert report["duplicates"] == 0 and report["out_of_order"] == 0
    assert report["latency_ms"]["samples"] == report["delivered"]
    if sys.platform.startswith("linux"):
        assert "SO_TIMESTAMPNS" in report["latency_ms"]["clock"]
    assert report["load_cpu"]["processes"] >= 1


def test_naive_server_freezes_when_one_client_stops_reading(start_server):
    # The exhibit must exhibit: one stalled reader (small receive buffer) and a
    # small server send buffer; sendall() to it blocks while holding the room's
    # lock, and the healthy clients stop receiving.
    server = start_server(naive=True, nodelay=True, sndbuf=4096)
    status, report, err = chatlab_load(server.address[1], "--clients", "10", "--senders", "5", "--rate", "8",
                                       "--duration", "3", "--ramp", "0.5", "--stalled", "1", "--size", "900",
                                       "--json")
    assert status == 1, err  # reach < 1 is a failed load test
    assert report["stalled"]["registered"] == 1
    assert report["reach"] < 1.0
    assert report["receivers_incomplete"] > 0
    assert report["stalled"]["dropped"] == []  # the naive server never drops anyone
    assert report["duplicates"] == 0


def test_table_output_names_reach_and_its_own_cpu(start_server):
    server = start_server(naive=True, nodelay=True)
    status, out, err = chatlab_load(server.address[1], "--clients", "4", "--senders", "1", "--duration", "1",
                                    "--ramp", "0")
    assert status == 0, err + out
    assert "reach" in out and "1.0000" in out
    assert "load generator CPU" in out


def test_nothing_listening_is_one_clear_line():
    with socket.socket() as probe:  # find a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = chatlab_load(port, "--clients", "3", "--senders", "1", "--duration", "1", "--ramp", "0")
    assert status == 2
    assert "no client could register" in err and "ECONNREFUSED" in err
    assert "Traceback" not in err


def test_bad_numbers_are_refused_without_a_traceback():
    status, out, err = chatlab_load(5050, "--clients", "5", "--senders", "9")
    assert status == 2 and "--senders" in err and "Traceback" not in err


def test_reference_server_drops_the_stalled_reader_and_loses_nothing(start_server):
    # The same load as the freeze exhibit above: the reference server must
    # drop the stalled client (its bounded queue overflows) and deliver every
    # message to everyone else, once and in order.
    server = start_server(sndbuf=4096)
    status, report, err = chatlab_load(server.address[1], "--clients", "10", "--senders", "5", "--rate", "8",
                                       "--duration", "3", "--ramp", "0.5", "--stalled", "1", "--size", "900",
                                       "--json")
    assert report["reach"] == 1.0, report
    assert report["duplicates"] == 0 and report["out_of_order"] == 0
    assert report["closed_by_server"]["count"] == 0
    dropped = report["stalled"]["dropped"]
    assert len(dropped) == 1 and dropped[0][1].startswith("dropped"), dropped
    assert status == 0, err


def test_bulk_clients_count_reach_and_order_while_only_timed_ones_give_latency(start_server):
    # --latency-every 4: the senders and every 4th client are timed; the other
    # clients are read in sweeps and parsed after the window, and must still
    # account for every delivery.
    server = start_server()
    status, report, err = chatlab_load(server.address[1], "--clients", "40", "--senders", "4", "--rate", "5",
                                       "--duration", "2", "--ramp", "0.5", "--latency-every", "4", "--json")
    assert status == 0, err
    assert report["reach"] == 1.0 and report["receivers"] == 40
    assert report["duplicates"] == 0 and report["out_of_order"] == 0
    # timed: clients 0, 4, ..., 36 (10 of them) plus the senders 10 and 30 (0 and 20 are already in)
    assert report["latency_ms"]["timed_receivers"] == 12
    assert 0 < report["latency_ms"]["samples"] < report["delivered"]
    # the bulk clients' deliveries are in the second-by-second timeline too
    assert sum(second["deliveries"] for second in report["timeline"]) == report["delivered"]


def test_load_members_mark_themselves_and_stay_out_of_the_history(start_server):
    # docs/PROTOCOL.md /bot: a classroom server under `chatlab load` must not hand
    # every newcomer a history full of load tokens
    from lab.peer import Peer

    server = start_server()
    with Peer(server.address, "alice") as alice:
        alice.send("said before the load")
        with Peer(server.address, "watcher") as watcher:
            watcher.expect("said before the load")
        status, report, err = chatlab_load(server.address[1], "--clients", "6", "--senders", "2", "--rate", "5",
                                           "--duration", "1", "--ramp", "0.2", "--json")
        assert status == 0, err
        assert report["connect"]["bots"] == 6, "every load member sent /bot and the server said so"
        assert report["delivered"] > 0, "marked members still reach everyone online"
        with Peer(server.address, "newcomer") as newcomer:
            newcomer.read(quiet=0.2)
            assert [line.split(" ", 1)[1] for line in newcomer.history] == ["<alice> said before the load"], \
                "the load's lines stay out of the history; alice's stays in"
