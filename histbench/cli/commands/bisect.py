"""`histbench bisect`: the commit that changed one benchmark series, found by measuring
as few commits as the evidence needs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import load_history
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode
from histbench.core.formatting import format_ratio

if TYPE_CHECKING:
    from histbench.analysis.bisect import BisectResult
    from histbench.analysis.changes import Change
    from histbench.analysis.name_match import Key
    from histbench.cli.bisect_measure import SeriesMeasurer
    from histbench.store.results import CommitInfo


class BisectCommand(Command):
    name = "bisect"
    help = "find the commit that changed a benchmark"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("good", nargs="?")
        parser.add_argument("bad", nargs="?")
        parser.add_argument("-b", "--bench",
                            help="one benchmark and parameter set: a regex, a name, "
                                 "or name(params) as asv or histbench spell it")
        parser.add_argument("--step", type=options.positive_int,
                            help="bisect step N as numbered by `regressions`")
        parser.add_argument("--alpha", type=options.probability, default=0.05)
        parser.add_argument("--rounds", default=None,
                            type=options.positive_int_upto(options.MAX_ROUNDS, "processes"),
                            help="processes per probe")
        options.add_measure(parser)
        options.add_results_source(parser, env=False)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.bisect import bisect
        from histbench.analysis.name_match import matching, pick_one
        from histbench.cli.bisect_measure import SeriesMeasurer
        from histbench.run.git import Repo

        if args.step is not None:
            change, machine = _numbered_step(config, args)
            good, bad, target = change.last_good.hash, change.first_bad.hash, change.series.key
            machine = args.machine or machine
        elif args.good and args.bad and args.bench:
            good, bad, target, machine = args.good, args.bad, None, args.machine
        else:
            raise HistbenchError("bisect needs GOOD BAD -b NAME, or --step N from "
                                 "`histbench regressions`")
        repo = Repo(config.repo_path)
        shas = repo.first_parent(f"{repo.rev(good)}..{repo.rev(bad)}")
        commits = repo.infos([repo.rev(good), *shas])
        versions = _series_versions(config)
        if target is None and matching(args.bench, versions):
            target = pick_one(args.bench, versions)  # one, or the list of candidates to choose
        measurer = SeriesMeasurer(config, args.bench, target, machine, args.rounds,
                                  args.measure)
        earlier = measurer.earlier(commits, versions) if target in versions else []
        found = bisect(commits, measurer.measure, alpha=args.alpha, earlier=earlier,
                       noise_floor=measurer.noise_floor)
        _print_bisection(found, measurer, commits, earlier)
        return ExitCode.OK


def _numbered_step(config: Config, args: argparse.Namespace) -> tuple[Change, str]:
    """Step ``--step N`` as `regressions` numbers it, on the same history and settings."""
    from histbench.analysis.events import find_changes

    history = load_history(config, args)
    changes = find_changes(history, alpha=args.alpha, threshold=config.threshold_for)
    if not 1 <= args.step <= len(changes):
        raise HistbenchError(f"--step {args.step}: `histbench regressions --all` lists "
                             f"{len(changes)} step(s) on machine {history.machine}")
    change = changes[args.step - 1]
    if change.last_good is None:
        raise HistbenchError(f"--step {args.step}: the step is at the first measured commit; "
                             "there is no good commit to bisect from")
    return change, history.machine


def _series_versions(config: Config) -> dict[Key, str]:
    """Series key -> benchmark version, from the suite description earlier runs saved."""
    from histbench.run.suite import BenchmarkSpec
    from histbench.store import results

    versions = {}
    for name, info in results.load_benchmark_info(config.results_dir).items():
        try:
            spec = BenchmarkSpec(name=name, module="", kind=info.get("kind", ""),
                                 params=info.get("params") or [],
                                 param_names=info.get("param_names") or [])
            sets = spec.param_sets()
        except (TypeError, ValueError, AttributeError):
            continue  # a description from another version of histbench
        for params in sets:
            versions[(name, tuple(params.items()))] = str(info.get("version", ""))
    return versions


def _print_bisection(found: BisectResult, measurer: SeriesMeasurer, commits: list[CommitInfo],
                     earlier: list[dict]) -> None:
    from histbench.store.results import label_of

    ev = found.evidence
    print(f"benchmark: {label_of(*measurer.target)}")
    print(f"culprit: {found.culprit.hash} {found.culprit.subject}")
    print(f"last good: {found.last_good.hash} {found.last_good.subject}")
    print(f"evidence: ratio {format_ratio(ev.ratio)} "
          f"[{format_ratio(ev.ci_low)}, {format_ratio(ev.ci_high)}], "
          f"p = {ev.p_value:.2g} ({ev.method} on {ev.level}, n = {ev.n_a} vs {ev.n_b})")
    print(f"{len(found.probes)} probes, {found.measured_commits} of {len(commits)} commits "
          f"measured, {measurer.batches} batches"
          + (f", {len(earlier)} earlier batch(es) reused" if earlier else ""))
    for p in found.probes:
        print(f"  {p.commit.short}: {p.side:15s} vs good {format_ratio(p.vs_good.ratio)} "
              f"(p {p.vs_good.p_value:.2g}), vs bad {format_ratio(p.vs_bad.ratio)} "
              f"(p {p.vs_bad.p_value:.2g}), {p.measurements} measurement(s)")
