"""Every ``histbench`` subcommand, one module each, in the order ``--help`` lists them (the
order of a typical workflow: measure, analyse, publish, set up)."""

from __future__ import annotations

from histbench.cli.command import Command
from histbench.cli.commands.bisect import BisectCommand
from histbench.cli.commands.compare import CompareCommand
from histbench.cli.commands.continuous import ContinuousCommand
from histbench.cli.commands.dev import DevCommand
from histbench.cli.commands.import_asv import ImportAsvCommand
from histbench.cli.commands.init import InitCommand
from histbench.cli.commands.machine import MachineCommand
from histbench.cli.commands.merge import MergeCommand
from histbench.cli.commands.preview import PreviewCommand
from histbench.cli.commands.publish import PublishCommand
from histbench.cli.commands.regressions import RegressionsCommand
from histbench.cli.commands.report import ReportCommand
from histbench.cli.commands.run import RunCommand
from histbench.cli.commands.show import ShowCommand

COMMANDS: tuple[Command, ...] = (
    DevCommand(), RunCommand(), CompareCommand(), ContinuousCommand(), RegressionsCommand(),
    BisectCommand(), ReportCommand(), ShowCommand(), PublishCommand(), PreviewCommand(),
    MergeCommand(), ImportAsvCommand(), MachineCommand(), InitCommand(),
)

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}

__all__ = ["BY_NAME", "COMMANDS"]
