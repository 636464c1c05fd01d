"""`histbench regressions`: events (steps of several benchmarks at one commit, attributed
to the code or to the machine: analysis/events), then every step the detector finds in
every benchmark's history, numbered as `bisect --step` takes them."""

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
                            help="false-alarm rate of each benchmark's history (family-wise "
                                 "over its commits); a step no other benchmark shares is "
                                 "tested at alpha over the number of benchmarks")
        parser.add_argument("--all", action="store_true", help="improvements too")
        options.add_format(parser, "text", "json", "markdown")
        options.add_results_source(parser, env=True)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.events import history_events
        from histbench.cli.event_tables import events_json, events_text, listed_events
        from histbench.cli.tables import (
            changes_json,
            changes_markdown,
            changes_text,
            list_changes,
            markdown_table,
        )
        from histbench.core.formatting import render_table

        history = load_history(config, args)
        report = history_events(history, alpha=args.alpha, threshold=config.threshold_for)
        listed = list_changes(report.changes, history.machine, history_order(config))
        events = listed_events(report, args.all)
        if not args.all:
            listed = [item for item in listed if item.change.regression]
        if args.format == "json":
            print(changes_json(listed, {"machine": history.machine, "env": history.env_name,
                                        "commits": len(history.commits),
                                        **events_json(report, events)}))
        elif args.format == "markdown":
            print(events_text(report, events, markdown_table))
            if listed:
                print("\nSteps:\n\n" + changes_markdown(listed))
        elif not report.changes:
            print("no significant steps found")
        else:
            print(events_text(report, events, render_table))
            if listed:
                print("\nSteps:\n" + changes_text(listed))
        return ExitCode.OK
