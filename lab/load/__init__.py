"""`chatlab load`: a load generator for chat servers that speak docs/PROTOCOL.md.

- :mod:`lab.load.accounting` -- tokens, reach, duplicates, order, latency (sans-I/O)
- :mod:`lab.load.worker` -- one process: an epoll loop over a few hundred clients
- :mod:`lab.load.runner` -- starts the workers, drives the phases, adds up
- :mod:`lab.load.render` -- the rich table
"""
