"""The command line: one module per group of subcommands, and the tables they print."""

from histbench.cli.main import main

__all__ = ["main"]
