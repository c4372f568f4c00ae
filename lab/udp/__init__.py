"""The chat over UDP: same protocol and same room as TCP, no connection.

TCP gives the chat a *connection*: a handshake proves the client's address,
the byte stream arrives complete and in order, and FIN/RST say when someone
has gone.  UDP gives none of that, so this module adds the least the chat
needs, and each piece shows what TCP was doing for us (docs/UDP.md):

* **membership by address**: the server knows a member by the (IP, port) its
  datagrams come from; a *join* datagram carries the name;
* **address validation** (anti-amplification): before an address has echoed
  a cookie, the server never answers a datagram with more bytes than it
  carried, so a spoofed source address cannot turn the server into an
  amplifier against a victim;
* **idle expiry**: no FIN, so a member silent for ``IDLE_TIMEOUT`` seconds is
  gone ("timeout"); clients send a keepalive every ``KEEPALIVE_INTERVAL``;
* **sequence numbers**: every line a client sends and every line the server
  sends to one member is numbered, so receivers can count what was lost,
  duplicated or reordered (``SequenceTracker``) - TCP does this for you and
  also *repairs* it; here we can only count;
* **one datagram = one line**, at most ``MAX_DATAGRAM`` (1200) bytes: no
  stream to re-split, and small enough not to be fragmented (IPv6
  guarantees 1280-byte packets on every link; IPv4 guarantees only 576, so
  a path with a small MTU could still fragment it: ``datagrams`` says more).

Datagrams (UTF-8 text; fields separated by one space)::

    client -> server   J COOKIE NAME [PADDING]   join (COOKIE "-" the first time)
                       M SEQ LINE                a chat line or command, numbered 1, 2, 3...
                       K                         keepalive
    server -> client   C COOKIE                  "echo this cookie in your join"
                       L SEQ ORIGIN LINE         one server line (docs/PROTOCOL.md);
                                                 SEQ numbers the lines sent to you,
                                                 ORIGIN is the sender's SEQ for chat
                                                 messages ("<bob>", "*bob*"), else "-"
                       hint: TEXT                how to join, to a stranger typing in `nc -u`

Every server datagram ends with CRLF (``nc -u`` shows one per row).

The parts that decide (``SequenceTracker``, ``UdpChatCore``,
``UdpClientCore``) do no I/O; ``UdpChatServer``, ``UdpChatClient`` and
``UdpTerminalClient`` own the sockets and threads; `chatlab server --udp` and
`chatlab client --udp` launch them (lab/commands/).

The package, one job per module:

* ``sequence``: ``SequenceTracker``, counting lost/duplicated/reordered datagrams (sans-I/O);
* ``datagrams``: the datagram format above, encode and decode, ``MAX_DATAGRAM`` (sans-I/O);
* ``server_core``: ``UdpChatCore`` and ``Member``, what the server decides (sans-I/O);
* ``client_core``: ``UdpClientCore``, what a client decides (sans-I/O);
* ``server``: ``UdpChatServer``, the server's socket and thread;
* ``client``: ``UdpChatClient`` (scripted) and ``UdpTerminalClient`` (a person at a terminal), the clients' sockets;
* ``reliable``: not the chat: what TCP does, rebuilt over UDP for one stream from one sender (numbered
  datagrams, cumulative ACKs, Go-Back-N, RFC 6298's timer from lab/net/rto.py); exercise 12's reference,
  the third row of `chatlab compare` (not imported here: ``from lab.udp import reliable``).
"""

from lab.udp.client import KEEPALIVE_INTERVAL, UdpChatClient
from lab.udp.client_core import UdpClientCore
from lab.udp.datagrams import (JOIN_PADDING, KEEPALIVE, MAX_DATAGRAM, Challenge, Hint, Join, Keepalive, Message,
                               ServerLineDatagram, decode_client, decode_server, encode_challenge, encode_hint,
                               encode_join, encode_message, encode_server_line)
from lab.udp.sequence import SequenceTracker
from lab.udp.server import UdpChatServer
from lab.udp.server_core import COOKIE_LIFETIME, IDLE_TIMEOUT, Member, Outgoing, UdpChatCore, join_hint

__all__ = [
    # sequence accounting
    "SequenceTracker",
    # datagram format
    "MAX_DATAGRAM", "JOIN_PADDING", "KEEPALIVE", "Join", "Message", "Keepalive", "Challenge",
    "ServerLineDatagram", "Hint", "encode_join", "encode_message", "encode_challenge", "encode_server_line",
    "encode_hint", "decode_client", "decode_server",
    # the server's decisions
    "IDLE_TIMEOUT", "COOKIE_LIFETIME", "Outgoing", "Member", "UdpChatCore", "join_hint",
    # the client's decisions
    "UdpClientCore",
    # the server: socket and thread
    "UdpChatServer",
    # the clients: scripted and interactive
    "KEEPALIVE_INTERVAL", "UdpChatClient",
]
