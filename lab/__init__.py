"""chat-lab: a lab kit that teaches TCP and UDP through a multi-client chat.

The package is split so that the parts that *decide* (protocol, room,
annotation) are plain code with no sockets, and the parts that own sockets,
threads and packets stay thin.  See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
