"""One module per `chatlab` subcommand (see lab/cli.py for the contract).

Modules here import only the standard library at module level; anything
heavy is imported inside ``run``.
"""
