"""`histbench run`: a range of commits, each built and measured in an isolated env."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from histbench.cli import options
from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode


class RunCommand(Command):
    name = "run"
    help = "benchmark a range of commits, each in an isolated env"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("range", help="A..B, HEAD~N..HEAD, a branch, a commit, ALL, NEW, "
                                          "EXISTING or HASHFILE:path")
        options.add_bench(parser, "regex of benchmarks to run")
        options.add_quick(parser, "one sample of one call each")
        parser.add_argument("--machine", type=options.machine_name,
                            help="machine name to store results under")
        parser.add_argument("--python",
                            help="one of the configured pythons (or a version/path)")
        parser.add_argument("--dry-run", action="store_true",
                            help="list the commits, run nothing")
        parser.add_argument("--shard", help="I/N: run every N-th commit starting at the I-th")
        parser.add_argument("--steps", type=options.positive_int,
                            help="sample N evenly spaced commits of the range")
        parser.add_argument("--skip-existing", action="store_true",
                            help="skip commits already measured on this machine")
        parser.add_argument("--interleave", action="store_true",
                            help="alternate rounds across commits so machine drift averages out")
        options.add_sampling(parser, "count samples taken while the machine was disturbed, and "
                                     "do not wait out bursts (the behaviour before disturbance "
                                     "checks)")
        options.add_measure(parser)
        parser.add_argument("--adaptive", action="store_true",
                            help="measure a sparse grid, then bisect until every step is "
                                 "pinned to its exact commit")
        parser.add_argument("--budget", type=options.positive_int, metavar="N",
                            help="with --adaptive: measure N commits at most")
        parser.add_argument("--budget-time", type=options.positive_int, metavar="SECONDS",
                            help="with --adaptive: start no new batch (up to 8 commits) after "
                                 "SECONDS")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.run.history_runner import Runner, RunOptions
        from histbench.run.rounds import Settings

        run_options = RunOptions(
            range_spec=args.range, bench=args.bench, quick=args.quick, machine=args.machine,
            python=args.python, dry_run=args.dry_run, shard=args.shard, steps=args.steps,
            skip_existing=args.skip_existing, interleave=args.interleave,
            settings=Settings(rounds=args.rounds, repeat=args.repeat,
                              reject_disturbed=not args.keep_disturbed,
                              measure=args.measure))
        if args.adaptive or args.budget or args.budget_time:
            return _adaptive(config, args, run_options)
        runner = Runner(config, run_options, progress_stream=sys.stderr)
        with _terminate_as_interrupt():
            report = runner.run()
        if args.dry_run:
            for info in report.commits:
                print(f"{info.short}  {info.subject}")
            print(f"{len(report.commits)} commits to run, {report.skipped_existing} already "
                  "measured", file=sys.stderr)
            return ExitCode.OK
        print(f"{len(report.saved)} commits measured, {report.skipped_existing} skipped as "
              f"already measured, {report.build_failures} failed to build, "
              f"{report.bench_failures} benchmark failures"
              + (f", {report.suite_errors} suite files did not import" if report.suite_errors
                 else ""), file=sys.stderr)
        return ExitCode(report.exit_code)


def _adaptive(config: Config, args: argparse.Namespace, run_options) -> ExitCode:
    from histbench.cli.adaptive_run import AdaptiveRun
    from histbench.core.errors import HistbenchError

    if not args.adaptive:
        raise HistbenchError("--budget and --budget-time go with --adaptive")
    clash = [flag for flag, on in (("--steps", args.steps), ("--shard", args.shard),
                                   ("--dry-run", args.dry_run),
                                   ("--interleave", args.interleave)) if on]
    if clash:
        raise HistbenchError(f"--adaptive chooses its own commits: drop {', '.join(clash)}")
    with _terminate_as_interrupt():
        report = AdaptiveRun(config, run_options, budget=args.budget,
                             budget_time=args.budget_time, stream=sys.stderr).run()
    print(f"{report.measured} of {report.commits} commits measured ({report.new} by this run), "
          f"{len(report.pinned)} steps pinned, {report.open} intervals open", file=sys.stderr)
    return report.exit_code


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A kill (SIGTERM) unwinds like Ctrl-C: the worker in flight is killed, and every
    commit already saved stays saved."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
