"""ex01's old reference client: send everything, then start reading.

It works while the data fits in the buffers between client and server, and
deadlocks beyond: the echo comes back while the client is still sending,
nobody reads it, the server's ``sendall`` waits, the server stops reading,
and the client's ``sendall`` waits for ever (here: until its timeout).
"""

import socket

EXERCISE = "ex01_echo"
MUST_FAIL = ["test_echo_client_sends_and_receives_at_once"]


def echo_client(host: str, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def apply(module) -> None:
    module.echo_client = echo_client
