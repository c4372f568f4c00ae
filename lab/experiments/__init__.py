"""Experiments that put the chat to work: the demo, TCP vs UDP under loss, the load generator."""
