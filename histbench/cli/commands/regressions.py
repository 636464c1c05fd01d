"""`histbench regressions`: every step the detector finds in every benchmark's history,
numbered as `bisect --step` takes them."""

from __future__ import annotations

import argparse

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import history_order, load_history
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class RegressionsCommand(Command):
    name = "regressions"
    help = "every detected step of every benchmark"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--alpha", type=options.probability, default=0.05,
                            help="family-wise false-alarm rate")
        parser.add_argument("--all", action="store_true", help="improvements too")
        options.add_format(parser, "text", "json", "markdown")
        options.add_results_source(parser, env=True)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.changes import find_changes
        from histbench.cli.tables import (
            changes_json,
            changes_markdown,
            changes_text,
            list_changes,
        )

        history = load_history(config, args)
        changes = find_changes(history, alpha=args.alpha, threshold=config.threshold_for)
        listed = list_changes(changes, history.machine, history_order(config))
        if not args.all:
            listed = [item for item in listed if item.change.regression]
        if args.format == "json":
            print(changes_json(listed, {"machine": history.machine, "env": history.env_name,
                                        "commits": len(history.commits)}))
        elif args.format == "markdown":
            print(changes_markdown(listed))
        else:
            print(changes_text(listed) if listed else "no significant steps found")
        return ExitCode.OK
