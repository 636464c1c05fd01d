"""`histbench dev`: the working tree's suite, measured in this interpreter."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.cli import options
from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode
from histbench.core.formatting import format_value, render_table
from histbench.store.statuses import Status

if TYPE_CHECKING:
    from histbench.run.rounds import Settings
    from histbench.run.suite import BenchmarkSpec, Suite
    from histbench.store.results import BenchmarkResult

HEADER = ["benchmark", "params", "median [95% CI]", "n", "outliers"]


class DevCommand(Command):
    name = "dev"
    help = "run the working tree's suite in this interpreter"
    config_required = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        options.add_bench(parser, "regex of benchmarks to run")
        options.add_quick(parser, "one sample of one call each")
        parser.add_argument("--json", action="store_true", help="print results as JSON")
        parser.add_argument("--save", action="store_true",
                            help="store the results (as the working tree of HEAD) for "
                                 "report/show")
        parser.add_argument("--machine", type=options.machine_name,
                            help="machine name for --save (default: hostname)")
        options.add_sampling(parser, "count samples taken while the machine was disturbed")
        options.add_measure(parser)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.run.rounds import ProcessEnv, Settings, run_suite
        from histbench.run.suite import discover

        suite = discover(sys.executable, config.benchmark_dir,
                         default_timeout=config.default_timeout).select(args.bench)
        settings = Settings.quick() if args.quick else Settings(
            rounds=args.rounds, repeat=args.repeat,
            reject_disturbed=not args.keep_disturbed and config.reject_disturbed)
        settings.energy = config.energy
        settings.measure, settings.default_measure = args.measure, config.measure
        penv = ProcessEnv(python=sys.executable, benchmark_dir=config.benchmark_dir)
        found = run_suite(penv, suite.benchmarks, settings,
                          progress=None if args.json else _progress(sys.stderr))
        failed = [r for r in found if r.status == Status.FAILED]
        if args.save:
            path = _save(config, suite, found, settings, args.machine)
            print(f"saved {path}", file=sys.stderr)
        if args.json:
            print(json.dumps({"results": [r.to_dict() for r in found],
                              "errors": [vars(e) for e in suite.errors]}, indent=1,
                             allow_nan=False))
        else:
            print(render_table(HEADER, result_rows(found)))
            for err in suite.errors:
                print(f"error: {err}", file=sys.stderr)
            for warning in suite.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"\n{len(found) - len(failed)} ran, {len(failed)} failed, "
                  f"{len(suite.errors)} import errors", file=sys.stderr)
        return ExitCode.BENCHMARK_FAILED if failed or suite.errors else ExitCode.OK


def _progress(stream) -> Callable[[int, int, BenchmarkSpec], None]:
    def report(i: int, n: int, bench: BenchmarkSpec) -> None:
        print(f"[{i + 1}/{n}] {bench.name}", file=stream, flush=True)

    return report


def result_rows(found: list[BenchmarkResult]) -> list[list[str]]:
    rows = []
    for r in found:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        if r.status != Status.OK or r.stats is None:
            rows.append([r.name, params, f"{r.status}: {r.reason or ''}"[:70], "", ""])
            continue
        s = r.stats
        value = format_value(s.median, r.unit)
        if s.n > 1:
            value += (f" [{format_value(s.median_ci_low, r.unit)}, "
                      f"{format_value(s.median_ci_high, r.unit)}]")
        rows.append([r.name, params, value, str(s.n), str(len(s.outliers))])
    return rows


def _save(config: Config, suite: Suite, found: list[BenchmarkResult], settings: Settings,
          machine_name: str | None) -> Path:
    """Results of the working tree, stored like a commit's (the HEAD it is based on, marked
    as the working tree), so report, show and compare can use them."""
    import time

    from histbench import __version__
    from histbench.core.errors import HistbenchError
    from histbench.run.environments import installed_packages
    from histbench.run.git import Repo
    from histbench.run.suite import describe
    from histbench.store import machine, results
    from histbench.store.results import CommitInfo, RunResults

    record = machine.collect(machine_name)
    machine.save(record, config.results_dir)
    try:
        repo = Repo(config.root)
        info = repo.info(repo.rev("HEAD"))
        info.subject = f"working tree on {info.short}: {info.subject}"
    except HistbenchError:
        info = CommitInfo(hash="0" * 40, date=time.time(), subject="working tree")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    run = RunResults(machine=record.name, env_name=f"dev-py{version}", commit=info,
                     python=version, histbench_version=__version__, started_at=time.time(),
                     finished_at=time.time(), settings=settings.to_dict(), results=found,
                     errors=[vars(e) for e in suite.errors],
                     packages=installed_packages(sys.executable))
    results.save_benchmark_info(config.results_dir, describe(suite.benchmarks))
    return results.save(run, config.results_dir)
