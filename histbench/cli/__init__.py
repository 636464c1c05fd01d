"""The command line: one Command class per subcommand (``commands/``), the parser built from
them (``main``), and the tables and reports they print."""

from histbench.cli.main import main

__all__ = ["main"]
