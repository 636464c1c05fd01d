"""`histbench merge DIR...`: result folders of several jobs (a CI matrix's shards) merged
into the results folder, checked first, conflicts refused (store/merge.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class MergeCommand(Command):
    name = "merge"
    help = "merge result folders of several jobs (CI shards) into the results folder"
    config_required = False  # with --into, or the current folder's results/

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folders", nargs="+", metavar="DIR",
                            help="results folders (each holding <machine>/ folders)")
        parser.add_argument("--into", metavar="DIR",
                            help="the folder merged into (default: the config's results_dir)")
        parser.add_argument("--replace", action="store_true",
                            help="a file measured otherwise than the target's replaces it "
                                 "(the folders given must still agree with each other)")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.shard_offsets import load_offsets
        from histbench.run.history_runner import results_lock
        from histbench.store.merge import merge_folders

        target = Path(args.into) if args.into else config.results_dir
        with results_lock(target):
            report = merge_folders([Path(f) for f in args.folders], target,
                                   replace=args.replace)
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        for machine, env in sorted(report.envs):
            for line in load_offsets(target, machine, env).lines():
                print(f"{machine} ({env}): {line}", file=sys.stderr)
        print(f"merged {len(args.folders)} folder(s) into {target}: {len(report.added)} "
              f"file(s) added, {len(report.replaced)} replaced, {report.unchanged} already "
              "there", file=sys.stderr)
        return ExitCode.OK
