"""Rounds of worker processes: one benchmark's rounds, and a whole suite's, back to back.

Every round is a fresh process so that between-process variance (hash seeds, ASLR, memory
layout) is sampled rather than frozen in; the remaining parameter sets of a process that
died are run in a new one, so one bad combination does not take the others down with it.
This module is also where callers find the run's vocabulary (Settings, ProcessEnv, ...).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.modes import MeasureMode
from histbench.run import valgrind
from histbench.run.combine import combine, combine_energy, disturbed_flags, failed_results
from histbench.run.settings import QuietLevel, Settings
from histbench.run.suite import BenchmarkSpec
from histbench.run.worker_process import (
    CacheOutcome,
    Outcome,
    ProcessEnv,
    run_process,
    run_setup_cache,
)
from histbench.store.results import BenchmarkResult
from histbench.store.statuses import Status

__all__ = [
    "BenchmarkRounds", "CacheOutcome", "Outcome", "ProcessEnv", "QuietLevel", "Settings",
    "combine", "combine_energy", "failed_results", "run_benchmark", "run_round",
    "run_setup_cache", "run_suite", "setup_cache_for", "surviving",
]

RERUNS = 1  # times a round is run again when its process never saw a quiet moment
# Undisturbed samples a result should have, judged at the end against the run's final
# quiet level: a process judged its samples against the quietest level seen when it ran,
# and a quieter process later (another commit's, in an interleaved run) can leave it with
# one sample or none, which no test can tell from noise. Fewer get one more round.
MIN_QUIET = 3
TOP_UPS = 1  # such rounds per benchmark and commit, at most


def run_round(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int], settings: Settings,
              *, numbers: dict[int, int] | None = None, cache_file: Path | None = None,
              quiet: QuietLevel | None = None) -> list[dict[int, Outcome]]:
    """Run one round of ``bench`` for the given parameter-set indices, each in this round's
    process; a process that dies takes only its in-flight parameter set with it.

    A parameter set whose every sample was disturbed (a burst outlasted the worker's
    wait) is run again in a new process, at most ``RERUNS`` times; every process is
    returned, one dict each, so nothing measured is lost.
    """
    quiet = quiet if quiet is not None else QuietLevel()
    processes: list[dict[int, Outcome]] = []
    todo = list(indices)
    for _ in range(RERUNS + 1):
        outcomes = _one_process_each(penv, bench, todo, settings, numbers or {}, cache_file,
                                     quiet)
        quiet.update(outcomes)
        processes.append(outcomes)
        todo = [i for i, o in outcomes.items() if o.all_disturbed(quiet)]
        if not todo or not settings.reject_disturbed:
            break
    return processes


def _one_process_each(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int],
                      settings: Settings, numbers: dict[int, int], cache_file: Path | None,
                      quiet: QuietLevel) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    remaining = list(indices)
    with tempfile.TemporaryDirectory(prefix="histbench-run-", dir=penv.workdir) as tmp:
        attempt = 0
        while remaining:
            attempt += 1
            got = run_process(penv, bench, remaining, settings, numbers, cache_file,
                              Path(tmp), attempt, quiet)
            outcomes.update(got)
            remaining = [i for i in remaining if i not in outcomes]
    return outcomes


def remember_numbers(numbers: dict[int, int], outcome: dict[int, Outcome]) -> None:
    for index, out in outcome.items():
        if out.number and index not in numbers:
            numbers[index] = out.number


def setup_cache_for(penv: ProcessEnv, bench: BenchmarkSpec, caches: dict[str, CacheOutcome],
                    tmp: Path) -> CacheOutcome | None:
    """The benchmark's setup_cache outcome, run on first use and shared by every benchmark
    with the same key; None when it has no setup_cache."""
    if not bench.setup_cache_key:
        return None
    if bench.setup_cache_key not in caches:
        caches[bench.setup_cache_key] = run_setup_cache(penv, bench, tmp)
    return caches[bench.setup_cache_key]


def surviving(bench: BenchmarkSpec, rounds: list[dict[int, Outcome]]) -> list[int]:
    """Parameter sets that have not failed or been skipped in any round so far: a later
    round would only fail them again."""
    return [i for i, _ in bench.chosen()
            if all(rd[i].status == Status.OK for rd in rounds if i in rd)]


@dataclass
class BenchmarkRounds:
    """One benchmark's rounds so far at one commit, one round at a time: run back to back
    (run_benchmark) or between other commits' rounds (the runner's interleaved schedule)."""

    bench: BenchmarkSpec
    rounds: list[dict[int, Outcome]] = field(default_factory=list)
    given_up: list[BenchmarkResult] | None = None  # its setup_cache failed or was skipped
    top_ups: int = 0

    def next_round(self, penv: ProcessEnv, settings: Settings, caches: dict[str, CacheOutcome],
                   tmp: Path, numbers: Callable[[], dict[int, int]], quiet: QuietLevel) -> bool:
        """Run one more round; False when there was nothing left to run. ``numbers`` gives
        the loop counts only when a round runs: the runner's calibration starts an entry
        for a benchmark on first use, and one that never ran keeps none."""
        if self.given_up is not None:
            return False
        cache = setup_cache_for(penv, self.bench, caches, tmp)
        if cache is not None and cache.status != Status.OK:
            record = valgrind.prepare().record if self._counted(settings) else None
            self.given_up = failed_results(self.bench, cache.status, cache.reason or "",
                                           cache.stderr_tail, valgrind=record)
            return False
        indices = surviving(self.bench, self.rounds)
        if not indices:
            return False
        self._run(penv, settings, cache, indices, numbers(), quiet)
        return True

    def top_up(self, penv: ProcessEnv, settings: Settings, caches: dict[str, CacheOutcome],
               tmp: Path, numbers: Callable[[], dict[int, int]], quiet: QuietLevel,
               announce: Callable[[], None] | None = None) -> bool:
        """One more round for the parameter sets left short of quiet samples (MIN_QUIET),
        at most TOP_UPS times, ``announce`` called first; False when none was needed or
        allowed."""
        short = self.short_of_quiet(quiet) if settings.reject_disturbed else []
        if not short or self.top_ups >= TOP_UPS or self.given_up is not None:
            return False
        self.top_ups += 1
        if announce is not None:
            announce()
        self._run(penv, settings, setup_cache_for(penv, self.bench, caches, tmp), short,
                  numbers(), quiet)
        return True

    def _run(self, penv: ProcessEnv, settings: Settings, cache: CacheOutcome | None,
             indices: list[int], known: dict[int, int], quiet: QuietLevel) -> None:
        counted = self._counted(settings)
        for outcome in run_round(penv, self.bench, indices, settings, numbers=known,
                                 cache_file=cache.path if cache else None, quiet=quiet):
            self.rounds.append(outcome)
            if not counted:  # one call per count: not a loop count for time mode to reuse
                remember_numbers(known, outcome)

    def _counted(self, settings: Settings) -> bool:
        return settings.mode_for(self.bench) == MeasureMode.INSTRUCTIONS

    def short_of_quiet(self, quiet: QuietLevel) -> list[int]:
        """Parameter sets whose undisturbed samples over every round, judged now as
        ``combine`` will judge them, number fewer than MIN_QUIET, or than the samples
        measured where those were fewer."""
        short = []
        for index in surviving(self.bench, self.rounds):
            outs = [rd[index] for rd in self.rounds if index in rd]
            if not any(o.references for o in outs):  # no gauge: nothing to judge
                continue
            flags, _ = disturbed_flags(outs, quiet)
            quiet_samples = sum(not bad for f in flags for bad in f)
            if quiet_samples < min(MIN_QUIET, sum(len(o.samples) for o in outs)):
                short.append(index)
        return short

    def results(self, quiet: QuietLevel) -> list[BenchmarkResult]:
        if self.given_up is not None:
            return self.given_up
        return combine(self.bench, self.rounds, quiet)


def run_benchmark(penv: ProcessEnv, bench: BenchmarkSpec, settings: Settings, tmp: Path,
                  caches: dict[str, CacheOutcome], *, numbers: dict[int, int] | None = None,
                  quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """All rounds of one benchmark, back to back (the runner interleaves across commits)."""
    known = {} if numbers is None else numbers
    quiet = quiet if quiet is not None else QuietLevel()
    rounds = BenchmarkRounds(bench)
    for _ in range(settings.rounds_for(bench)):
        if not rounds.next_round(penv, settings, caches, tmp, lambda: known, quiet):
            break
    rounds.top_up(penv, settings, caches, tmp, lambda: known, quiet)
    return rounds.results(quiet)


def run_suite(penv: ProcessEnv, benchmarks: list[BenchmarkSpec], settings: Settings,
              progress: Callable[[int, int, BenchmarkSpec], None] | None = None,
              numbers: dict[str, dict[int, int]] | None = None,
              quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """Run every benchmark; ``numbers`` (benchmark -> parameter set -> loops) carries
    calibrated loop counts to reuse and is filled in with new ones; ``quiet`` the
    machine's quiet speed, shared with the caller's other runs."""
    numbers = {} if numbers is None else numbers
    quiet = quiet if quiet is not None else QuietLevel()
    results: list[BenchmarkResult] = []
    caches: dict[str, CacheOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="histbench-suite-", dir=penv.workdir) as tmp:
        for i, bench in enumerate(benchmarks):
            if progress:
                progress(i, len(benchmarks), bench)
            known = numbers.setdefault(bench.name, {})
            results.extend(run_benchmark(penv, bench, settings, Path(tmp), caches, numbers=known,
                                         quiet=quiet))
    return results
