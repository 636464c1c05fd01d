"""In what order one environment's commits are built and measured.

``Sequential`` finishes each commit (build, every round of every benchmark, save) before
the next: a long history makes progress commit by commit. ``Interleaved`` builds them all,
then runs round r of every commit before round r+1 of any: slow drift of the machine
(thermal, background load) then spreads over all commits instead of landing on whichever
commit happened to run during it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from histbench.run.commit_build import Prepared
from histbench.run.env_run import EnvRun
from histbench.run.rounds import BenchmarkRounds, CacheOutcome, run_suite
from histbench.run.suite import BenchmarkSpec, Suite
from histbench.store.results import BenchmarkResult, CommitInfo


class Schedule(Protocol):
    def run(self, ctx: EnvRun, commits: list[CommitInfo]) -> None: ...


class Sequential:
    def run(self, ctx: EnvRun, commits: list[CommitInfo]) -> None:
        for i, info in enumerate(commits):
            started = time.time()
            ctx.progress.position(f"commit {i + 1}/{len(commits)} {info.short} building")
            prepared = ctx.prepare(info)
            found: list[BenchmarkResult] = []
            if prepared.ok:
                suite = ctx.suite_for(prepared)
                penv = ctx.builder.process_env(prepared)
                numbers = {b.name: ctx.calibration.numbers(b) for b in suite.benchmarks}

                def where(j: int, m: int, bench: BenchmarkSpec, i=i, info=info) -> None:
                    ctx.progress.position(
                        f"commit {i + 1}/{len(commits)} {info.short} benchmark {j + 1}/{m} "
                        f"{bench.name}")

                found = run_suite(penv, suite.benchmarks, ctx.settings, progress=where,
                                  numbers=numbers, quiet=ctx.quiet)
            ctx.finish(prepared, started, found)
            ctx.progress.advance()


@dataclass
class _CommitRounds:
    """Every benchmark's rounds so far at one commit, and its setup_cache outcomes."""

    benchmarks: dict[str, BenchmarkRounds]
    caches: dict[str, CacheOutcome] = field(default_factory=dict)

    @classmethod
    def of(cls, suite: Suite) -> _CommitRounds:
        return cls({b.name: BenchmarkRounds(b) for b in suite.benchmarks})


class Interleaved:
    def __init__(self, batch: str | None):
        # Results measured together carry one batch id: bisect may reuse them as evidence
        # only for commits of the same batch (bisect.earlier_batches).
        self.batch = batch

    def run(self, ctx: EnvRun, commits: list[CommitInfo]) -> None:
        started = time.time()
        prepared = []
        for i, info in enumerate(commits):
            ctx.progress.position(f"building {i + 1}/{len(commits)} {info.short}")
            prepared.append(ctx.prepare(info))
        good = [p for p in prepared if p.ok]
        for p in prepared:
            if not p.ok:
                ctx.finish(p, started, [])
        if not good:
            return
        suite = ctx.suite_for(good[0])
        state = {p.info.hash: _CommitRounds.of(suite) for p in good}
        total_rounds = max((ctx.settings.rounds_for(b) for b in suite.benchmarks), default=0)
        ctx.progress.total = max(1, total_rounds * len(good))
        with tempfile.TemporaryDirectory(prefix="histbench-caches-") as tmp:
            for r in range(total_rounds):
                for p in good:
                    ctx.progress.position(f"round {r + 1}/{total_rounds} {p.info.short}")
                    self._one_round(ctx, p, state[p.info.hash], r, Path(tmp))
                    ctx.progress.advance()
                if r < total_rounds - 1:
                    for p in good:
                        ctx.record(p, started, self._results(ctx, state[p.info.hash]),
                                   complete=False)
            for p in good:  # judged against the run's final quiet level: see rounds.MIN_QUIET
                self._top_up(ctx, p, state[p.info.hash], Path(tmp))
            for p in good:
                ctx.finish(p, started, self._results(ctx, state[p.info.hash]))

    @staticmethod
    def _one_round(ctx: EnvRun, p: Prepared, state: _CommitRounds, r: int, tmp: Path) -> None:
        penv = ctx.builder.process_env(p)
        for rounds in state.benchmarks.values():
            if r >= ctx.settings.rounds_for(rounds.bench) or rounds.given_up is not None:
                continue
            folder = tmp / p.info.hash
            folder.mkdir(exist_ok=True)
            rounds.next_round(penv, ctx.settings, state.caches, folder,
                              lambda b=rounds.bench: ctx.calibration.numbers(b), ctx.quiet)

    @staticmethod
    def _top_up(ctx: EnvRun, p: Prepared, state: _CommitRounds, tmp: Path) -> None:
        penv = ctx.builder.process_env(p)
        folder = tmp / p.info.hash
        folder.mkdir(exist_ok=True)
        for rounds in state.benchmarks.values():
            rounds.top_up(penv, ctx.settings, state.caches, folder,
                          lambda b=rounds.bench: ctx.calibration.numbers(b), ctx.quiet,
                          announce=lambda b=rounds.bench: ctx.progress.position(
                              f"one more round {p.info.short} {b.name}: too few undisturbed "
                              "samples"))

    def _results(self, ctx: EnvRun, state: _CommitRounds) -> list[BenchmarkResult]:
        found = [r for rounds in state.benchmarks.values() for r in rounds.results(ctx.quiet)]
        for result in found:
            result.extra["batch"] = self.batch
        return found
