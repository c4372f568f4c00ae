"""Every default limit is written once (lab/chat/limits.py); the docs and the defaults agree with it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from lab.chat import limits as L

DOCS = Path(__file__).resolve().parents[2] / "docs"


def table(path: Path, heading: str) -> dict[str, list[str]]:
    """The rows of the first table under ``heading``: first cell -> the other cells."""
    text = path.read_text()
    section = text[text.index(heading):]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


PROTOCOL_LIMITS = {
    "line length (client to server)": f"{L.MAX_LINE_BYTES} bytes",
    "bytes with no line end at all": f"{L.MAX_UNTERMINATED_BYTES} bytes",
    "name": f"1-{L.MAX_NAME_CHARS} characters",
    "history sent to a new member": f"the last {L.HISTORY_SIZE} public messages",
    "time to choose a name": f"{L.NAME_TIMEOUT_S:g} s",
    "clients at once": f"{L.MAX_CLIENTS}",
    "output waiting for one slow client": f"{L.SEND_QUEUE_BYTES // 1024} KiB",
    "message rate": f"{L.RATE_LINES_PER_S:g} lines/s with bursts of {L.BURST_LINES}",
    "UDP datagram": f"{L.MAX_DATAGRAM_BYTES} bytes",
}

ROBUSTNESS_LIMITS = {
    "line length": f"{L.MAX_LINE_BYTES} bytes",
    "bytes with no line end": f"{L.MAX_UNTERMINATED_BYTES}",
    "output waiting for a slow client": f"{L.SEND_QUEUE_BYTES // 1024} KiB",
    "lines per second": f"{L.RATE_LINES_PER_S:g} sustained, bursts of {L.BURST_LINES}",
    "time to choose a name": f"{L.NAME_TIMEOUT_S:g} s",
    "clients at once": f"{L.MAX_CLIENTS}",
    "dead peers (no FIN, no RST)": (f"after {L.KEEPALIVE_IDLE_S} s idle, {L.KEEPALIVE_COUNT} probes "
                                    f"{L.KEEPALIVE_INTERVAL_S} s apart"),
    "TLS handshake": f"{L.TLS_HANDSHAKE_TIMEOUT_S:g} s",
    "history": f"{L.HISTORY_SIZE} messages",
    "listen backlog": f"{L.LISTEN_BACKLOG}",
}


@pytest.mark.parametrize("path, heading, expected", [
    (DOCS / "PROTOCOL.md", "## Limits", PROTOCOL_LIMITS),
    (DOCS / "ROBUSTNESS.md", "## Limits", ROBUSTNESS_LIMITS),
], ids=["PROTOCOL.md", "ROBUSTNESS.md"])
def test_the_documented_limits_are_the_values_of_limits_py(path, heading, expected):
    rows = table(path, heading)
    for what, value in expected.items():
        assert what in rows, f"{path.name}: no row {what!r} in the limits table"
        assert value in rows[what][0], f"{path.name}: {what!r} says {rows[what][0]!r}; lab/chat/limits.py says {value!r}"
    # every number in the consequences agrees too (e.g. "no line end in 8192 bytes")
    numbers = {str(v) for v in vars(L).values() if isinstance(v, int)} | {f"{v:g}" for v in vars(L).values()
                                                                              if isinstance(v, float)}
    for what, cells in rows.items():
        for number in re.findall(r"(?<![\w.-])\d{3,}(?![\w.])", " ".join(cells[1:])):
            assert number in numbers, f"{path.name}: {number} in the row {what!r} is no limit of lab/chat/limits.py"


def test_the_protocol_text_names_the_same_numbers():
    text = (DOCS / "PROTOCOL.md").read_text()
    assert f"the line was over {L.MAX_LINE_BYTES} bytes" in text
    assert f"no line end in {L.MAX_UNTERMINATED_BYTES} bytes" in text
    assert f"a datagram over {L.MAX_DATAGRAM_BYTES} bytes" in text


def test_the_server_the_udp_core_and_the_command_line_take_their_defaults_from_limits_py():
    from lab.commands import server as server_command
    from lab.tcp.server import ServerConfig
    from lab.udp import UdpChatCore

    config = ServerConfig()
    assert (config.port, config.max_clients, config.history, config.send_queue, config.name_timeout, config.rate,
            config.burst, config.keepalive_idle, config.max_line, config.max_unterminated) == (
        L.DEFAULT_PORT, L.MAX_CLIENTS, L.HISTORY_SIZE, L.SEND_QUEUE_BYTES, L.NAME_TIMEOUT_S, L.RATE_LINES_PER_S,
        L.BURST_LINES, L.KEEPALIVE_IDLE_S, L.MAX_LINE_BYTES, L.MAX_UNTERMINATED_BYTES)
    core = UdpChatCore()
    assert (core.rate, core.burst, core.max_members, core.idle_timeout) == (
        L.RATE_LINES_PER_S, L.BURST_LINES, L.MAX_CLIENTS, L.UDP_IDLE_TIMEOUT_S)
    parser = argparse.ArgumentParser()
    server_command.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.port, args.max_clients, args.history, args.send_queue, args.name_timeout, args.rate, args.burst,
            args.keepalive) == (config.port, config.max_clients, config.history, config.send_queue,
                                config.name_timeout, config.rate, config.burst, config.keepalive_idle)


def test_no_module_of_the_chat_writes_a_limit_again():
    # the distinctive numbers of limits.py as literals in code elsewhere: a second copy waiting to disagree
    import ast

    lab = Path(__file__).resolve().parents[2] / "lab"
    # lab/udp/reliable.py is exercise 12's transfer, not the chat: its 1024-byte payload is its own rule
    places = [lab / "chat", lab / "tcp" / "server.py", lab / "tcp" / "client.py",
              *(path for path in sorted((lab / "udp").glob("*.py")) if path.name != "reliable.py"),
              lab / "commands" / "server.py", lab / "commands" / "client.py",
              lab / "terminal.py"]
    suspects = {L.MAX_CLIENTS, L.MAX_LINE_BYTES, L.MAX_UNTERMINATED_BYTES, L.MAX_DATAGRAM_BYTES, L.DEFAULT_PORT,
                L.SEND_QUEUE_BYTES, L.MAX_SERVER_LINE_BYTES}
    found = []
    for place in places:
        for path in ([place] if place.is_file() else sorted(place.glob("*.py"))):
            if path.name == "limits.py":
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and type(node.value) is int and node.value in suspects:
                    found.append(f"{path.relative_to(lab.parent)}:{node.lineno}: {node.value}")
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                    try:
                        value = ast.literal_eval(node)
                    except ValueError:
                        continue
                    if value in suspects:
                        found.append(f"{path.relative_to(lab.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "limits written again:\n" + "\n".join(found)
