"""`histbench compare`: the stored results of two commits, benchmark by benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import load_history, resolve_run
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from histbench.analysis.run_diff import Row
    from histbench.store.results import RunResults


class CompareCommand(Command):
    name = "compare"
    help = "compare the results of two commits"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("a")
        parser.add_argument("b")
        options.add_significance(parser)
        options.add_format(parser, "text", "json", "markdown")
        options.add_results_source(parser, env=True)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.run_diff import compare_runs

        history = load_history(config, args)
        a, b = resolve_run(config, history, args.a), resolve_run(config, history, args.b)
        rows = compare_runs(a, b, alpha=args.alpha, factor=args.factor)
        return print_comparison(rows, a, b, args)


def print_comparison(rows: list[Row], a: RunResults, b: RunResults,
                     args: argparse.Namespace) -> ExitCode:
    """Print the rows in --format (only the changed ones with --only-changed), write the
    Markdown --summary where the command has one, and say whether A -> B regressed."""
    from histbench.analysis.run_diff import has_regression
    from histbench.cli.tables import compare_json, compare_markdown, compare_text

    title = f"histbench: {a.commit.short} → {b.commit.short} on {a.machine}"
    shown = [r for r in rows if r.changed] if args.only_changed else rows
    if args.format == "json":
        meta = {"a": a.commit.hash, "b": b.commit.hash, "machine": a.machine,
                "alpha": args.alpha, "factor": args.factor}
        print(compare_json(shown, meta))
    elif args.format == "markdown":
        print(compare_markdown(shown, title))
    else:
        print(title)
        print(compare_text(shown))
    if getattr(args, "summary", None):
        Path(args.summary).write_text(compare_markdown(shown, title))
    return ExitCode.REGRESSION if has_regression(rows) else ExitCode.OK
