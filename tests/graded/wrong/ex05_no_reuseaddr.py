"""ex05 with a listening socket made as in most tutorials: socket, bind, listen, nothing else.

It serves, and Ctrl-C still ends every connection with a FIN.  But the
server closed first, so its side of each connection is in TIME_WAIT on the
port, and the restarted server's ``bind`` fails with "Address already in
use" for the next 60 seconds.  ``SO_REUSEADDR``, set before ``bind``, is
what lets it bind.
"""

import socket

EXERCISE = "ex05_closing"
MUST_FAIL = ["test_restart_on_the_same_port_at_once"]


def listen_on(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    return listener


def apply(module) -> None:
    module.listen_on = listen_on
