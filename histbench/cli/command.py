"""What every subcommand is: a name and help for the parser, its own options, and a run.

The parser is built from the registry in ``commands``, so adding a subcommand is adding one
module there; nothing else in the command line needs to know it exists.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from typing import ClassVar

from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class Command(ABC):
    """One ``histbench`` subcommand.

    A command module must stay cheap to import: ``histbench --help`` imports them all to
    build the parser, so anything that pulls in numpy, scipy or matplotlib is imported
    inside ``run``."""

    name: ClassVar[str]
    help: ClassVar[str]
    # Commands about the working tree or this machine work without a histbench.json (on
    # the current folder's defaults); those about a project's history need one.
    config_required: ClassVar[bool] = True

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's options; their order is the order ``--help`` lists them."""

    @abstractmethod
    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        """Do the command; a user-facing failure is raised as HistbenchError."""
