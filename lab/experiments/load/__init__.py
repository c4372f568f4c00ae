"""`chatlab load`: a load generator for chat servers that speak docs/PROTOCOL.md.

- :mod:`lab.experiments.load.accounting` -- tokens, reach, duplicates, order, latency (sans-I/O)
- :mod:`lab.experiments.load.worker` -- one process: an epoll loop over a few hundred clients
- :mod:`lab.experiments.load.runner` -- starts the workers, drives the phases, adds up
- :mod:`lab.experiments.load.render` -- the rich table
"""
