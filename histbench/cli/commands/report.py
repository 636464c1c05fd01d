"""`histbench report`: the fair comparison of variants (parameter values of one benchmark,
or the same benchmarks at two commits) as Markdown, HTML or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import (
    check_output_outside_data,
    load_history,
    named_or_newest,
    resolve_run,
)
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from histbench.analysis.series import History
    from histbench.analysis.variants import Family
    from histbench.store.results import RunResults


class ReportCommand(Command):
    name = "report"
    help = "fair comparison of variants: speedup, accuracy, memory, energy, Pareto front"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--baseline", required=True,
                            help="the baseline variant (a parameter value) or commit")
        parser.add_argument("--commit",
                            help="the commit whose results to report (default: newest)")
        options.add_bench(parser, "regex of benchmarks to include")
        options.add_format(parser, "markdown", "html", "json")
        parser.add_argument("--output", type=options.output_file,
                            help="write here (plots go next to it for markdown)")
        options.add_results_source(parser, env=True)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.cli import variant_report as report
        from histbench.store import machine as machines
        from histbench.store import results

        out = Path(args.output) if args.output else None
        if out:
            check_output_outside_data(config, out, "--output")
        history = load_history(config, args)
        run = named_or_newest(config, history, args.commit)
        families, title = _families(config, history, run, args)
        try:
            record = machines.load(config.results_dir / history.machine / "machine.json")
        except HistbenchError:
            record = None
        repro = report.reproducibility(run, record,
                                       results.load_benchmark_info(config.results_dir))
        if args.format == "json":
            text = json.dumps(report.as_json(families, repro), indent=1)
        elif args.format == "html":
            text = report.html(families, repro, title)
        else:
            # plots go beside a written report; printed, it has none (no stray files here)
            text = report.markdown(families, repro, out.parent if out else None, title)
        if out:
            out.write_text(text)
            print(f"wrote {out}", file=sys.stderr)
        else:
            print(text)
        return ExitCode.OK


def _families(config: Config, history: History, run: RunResults, args: argparse.Namespace
              ) -> tuple[list[Family], str]:
    """The variants to compare and the report's title: the --baseline parameter value's
    siblings if any benchmark has one, else every benchmark at the --baseline commit."""
    from histbench.analysis.variants import families_from_commits, families_from_params

    chosen = _chosen_names(run, args.bench) if args.bench else None
    families = families_from_params(run, args.baseline, chosen)
    if families:
        return families, f"{config.project}: variants against {args.baseline}"
    try:
        base = resolve_run(config, history, args.baseline)
    except HistbenchError:
        raise HistbenchError(
            f"--baseline {args.baseline!r} is neither a variant (parameter value) of "
            f"any benchmark at {run.commit.short} nor a measured commit") from None
    if base.commit.hash == run.commit.hash:
        raise HistbenchError(f"--baseline {args.baseline!r} is the commit being reported "
                             f"({run.commit.short}): name another (--commit, --baseline)")
    return (families_from_commits(base, run, chosen),
            f"{config.project}: {run.commit.short} against {base.commit.short}")


def _chosen_names(run: RunResults, patterns: list[str]) -> set[str]:
    """The measured benchmarks -b selects, matched as `dev` and `run` match theirs."""
    from histbench.run.suite import Suite

    names = {r.name for r in run.results}
    return {b.name for b in Suite([_Named(n) for n in names]).select(patterns).benchmarks}


class _Named:
    """Just a name, so Suite.select's regex matching serves report's -b too."""

    def __init__(self, name: str):
        self.name = name
