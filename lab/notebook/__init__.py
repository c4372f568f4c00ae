"""Helpers for the instructor notebooks (notebooks/*.ipynb).

A notebook starts with ``lesson = Lesson("01 ...")`` and ends with
``lesson.cleanup()``.  Everything the lesson starts -- chat servers, client
sockets, client processes, packet captures -- is started through the
lesson, which keeps a list and stops all of it:

* in ``cleanup()`` (the last cell of every notebook);
* when the kernel's Python exits normally (``atexit``);
* inside each helper, with ``try/finally``, when the helper itself fails
  half way (a server that started but whose client could not connect...).

When a cell fails and the kernel is then shut down or restarted, Jupyter
usually *kills* the kernel (atexit does not run).  Nothing is left behind
anyway: servers, clients and captures are threads and sockets of the kernel
itself, which the OS closes; client processes die with the kernel
(``PR_SET_PDEATHSIG``, and Jupyter kills the kernel's process group).
Emulated networks (namespaces) only ever live inside one call
(``compare()``), where ``lab.net.netlab.Netlab`` removes them in ``finally``;
should a kernel be killed in the middle of one, the next ``Lesson`` removes
namespaces whose kernel no longer exists (``nblabPID-...``).

Packet capture needs root or CAP_NET_RAW.  Without it ``Lesson.capture``
does not fail: it shows a visible note and replays a capture RECORDED with
the same notebook (``lab/data/lessons/NAME.pcap``), step by step, so the
rest of the lesson reads the same.  ``tools/record_lessons.py`` re-records
them by running the notebooks as root.

Nothing here defines what a chat line or a TCP segment means: that is
``lab.chat.wire`` and ``lab.capture``.  These are the glue a lesson needs.


The helpers live in one module per job; this package re-exports them so a
notebook only needs ``from lab import notebook as nb``.  The chat members a
lesson scripts are lab/peer.py's (``nb.ChatPeer`` is ``lab.peer.Peer``,
``nb.ClientProcess`` is ``lab.peer.PeerProcess``), the same ones the demo
and the tests use.

- ``settings``    paths, environment switches, constants
- ``display``     rich tables, notes, lifecycle events, server lines
- ``sockets``     the kernel's socket table, TCP states, bind(), free ports
- ``capture``     live capture, or a RECORDED one replayed step by step
- ``lesson``      ``Lesson``: starts everything, cleans all of it up
- ``bytestream``, ``nagle``, ``slowreader``, ``datagrams``, ``tcp_vs_udp``, ``repair``, ``tls``,
  ``microscope`` (lesson 8: ``from lab.notebook import microscope``): one lesson's experiments each
- ``handcraft``   lesson 9: packets made by hand (lab.craft), live or recorded
- ``claims``      ``check()``: the lesson's statements, tested on the packets just captured
- ``wire_claims`` what the lessons claim about TCP and UDP packets (sans-I/O)
"""

from lab.notebook import claims, datagrams, handcraft, nagle, repair, tls, wire_claims
from lab.notebook.bytestream import recv_all, send_in_thread, show_chunks, wait_queued
from lab.notebook.capture import Capture
from lab.notebook.claims import Claim, ClaimFailed, check, measured
from lab.notebook.display import console, events, note, show, show_lines, table
from lab.notebook.handcraft import CraftLab
from lab.notebook.lesson import Lesson
from lab.notebook.settings import FORCE_RECORDED_ENV, HOST, LESSON_DATA, NETLAB_PREFIX, RECORD_ENV, SETTLE
from lab.notebook.slowreader import SlowReaderResult, server_threads, show_slow_reader, show_threads, slow_reader
from lab.notebook.sockets import (free_port, parse_proc_net_tcp, same_four_tuple, show_sockets, sockets, tcp_state,
                                  try_bind, wait_for_state, wait_for_tcp_state)
from lab.notebook.tcp_vs_udp import (compare, compare_table, counters, remove_stale_netlabs, tcp_claims, tcp_source,
                                     udp_claims)
from lab.notebook.tls import SECRET, find_text, lab_ca, secret_chat, tls_records
from lab.peer import Peer as ChatPeer  # the lessons' name for lab.peer's scripted member
from lab.peer import PeerProcess as ClientProcess  # and for one in its own process

__all__ = [
    "Capture", "ChatPeer", "Claim", "ClaimFailed", "ClientProcess", "CraftLab", "handcraft", "FORCE_RECORDED_ENV", "HOST", "LESSON_DATA",
    "Lesson", "NETLAB_PREFIX", "RECORD_ENV", "SECRET", "SETTLE", "SlowReaderResult", "check", "claims", "compare",
    "compare_table", "console", "counters", "datagrams", "events", "find_text", "free_port", "lab_ca", "measured",
    "nagle", "note", "parse_proc_net_tcp", "recv_all", "remove_stale_netlabs", "repair", "same_four_tuple",
    "secret_chat", "send_in_thread", "server_threads", "show", "show_chunks", "show_lines", "show_slow_reader",
    "show_sockets", "show_threads", "slow_reader", "sockets", "table", "tcp_claims", "tcp_source", "tcp_state", "tls", "tls_records",
    "try_bind", "udp_claims", "wait_for_state", "wait_for_tcp_state", "wait_queued", "wire_claims",
]
