"""`histbench continuous`: BASE and HEAD measured interleaved (so machine drift hits both
alike), then compared as `compare` does; what CI runs on a pull request."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.commands.compare import print_comparison
from histbench.cli.loading import check_output_outside_data
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode


class ContinuousCommand(Command):
    name = "continuous"
    help = "measure BASE and HEAD interleaved, then compare"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("base")
        parser.add_argument("head")
        options.add_bench(parser)
        options.add_quick(parser)
        parser.add_argument("--rounds",
                            type=options.positive_int_upto(options.MAX_ROUNDS, "processes"),
                            help="processes per benchmark and commit")
        parser.add_argument("--summary", type=options.output_file,
                            help="write a Markdown summary here (CI job summary, PR)")
        options.add_significance(parser)
        options.add_measure(parser)
        options.add_format(parser, "text", "json", "markdown")
        options.add_results_source(parser, env=False)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.run_diff import compare_runs
        from histbench.run.git import Repo
        from histbench.run.history_runner import Runner, RunOptions
        from histbench.run.rounds import Settings
        from histbench.store import results

        if args.summary:
            check_output_outside_data(config, Path(args.summary), "--summary")
        run_options = RunOptions(range_spec="", commits=[args.base, args.head],
                                 bench=args.bench, machine=args.machine, interleave=True,
                                 quick=args.quick,
                                 settings=Settings(rounds=args.rounds, measure=args.measure))
        report = Runner(config, run_options, progress_stream=sys.stderr).run()
        if report.build_failures:
            raise HistbenchError("a commit failed to build; see its result file for the log")
        runs = {r.commit.hash: r for r in map(results.load, report.saved)}
        base, head = (runs[Repo(config.repo_path).rev(c)] for c in (args.base, args.head))
        rows = compare_runs(base, head, alpha=args.alpha, factor=args.factor)
        return print_comparison(rows, base, head, args)
