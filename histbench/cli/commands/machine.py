"""`histbench machine`: this machine's description, recorded where results go."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from histbench.cli import options
from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class MachineCommand(Command):
    name = "machine"
    help = "record this machine's description"
    config_required = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--machine", type=options.machine_name,
                            help="name to store results under (default: hostname)")
        parser.add_argument("--results-dir", help="results folder (default: from config)")
        parser.add_argument("--json", action="store_true")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.store import machine

        results_dir = Path(args.results_dir) if args.results_dir else config.results_dir
        record = machine.collect(args.machine)
        path = machine.save(record, results_dir)
        if args.json:
            print(json.dumps(record.to_dict(), indent=1))
        else:
            print(machine.format_record(record))
            print(f"saved {path}", file=sys.stderr)
        return ExitCode.OK
