"""`histbench publish`: the static history site, rendered from the stored results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import repo_view
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class PublishCommand(Command):
    name = "publish"
    help = "render the static history site"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--html-dir", help="output folder (default: html_dir of the config)")
        parser.add_argument("--alpha", type=options.probability, default=0.05,
                            help="family-wise false-alarm rate of step detection")
        parser.add_argument("-j", "--jobs", default=None,
                            type=options.positive_int_upto(options.MAX_JOBS, "processes"),
                            help="worker processes that render pages (default: one per CPU)")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.site.publisher import Publisher  # matplotlib: only when publishing

        publisher = Publisher(config, Path(args.html_dir) if args.html_dir else None,
                              alpha=args.alpha, jobs=args.jobs)
        order, known = repo_view(config)
        report = publisher.publish(order=order, known=known)
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"wrote {len(report.written)} files, {report.skipped} unchanged, in "
              f"{report.seconds:.1f} s: {publisher.html_dir / 'index.html'}", file=sys.stderr)
        return ExitCode.OK
