"""The chat itself, sans-I/O: the wire format, the room, the client's decisions, the limits.

Nothing in this package opens a socket, starts a thread or waits on a selector
(tests/chat/test_sans_io.py checks it); the TCP and UDP transports, the
annotator, the load tool, the tests and the notebooks all build on it.
"""
