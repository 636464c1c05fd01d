"""What `histbench bisect` measures with: the runner, asked for one series at a time.

The analysis layer's bisect decides which commits to measure; this is the part of it that
may start the runner, kept in the command line so the analysis never imports the runner."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.modes import benchmark_of, count_floor
from histbench.store.statuses import Status

if TYPE_CHECKING:
    from histbench.analysis.name_match import Key
    from histbench.store.results import CommitInfo


class SeriesMeasurer:
    """Measures the commits of one bisect decision together, for one series only.

    The runner measures the whole benchmark (all its parameter sets, interleaved rounds)
    and merges it into each commit's result file; the samples taken back are the chosen
    series' fresh ones, so whatever else the results folder holds plays no part.

    ``target`` is None while the benchmark the user named (``bench``) has never been
    measured here; the first batch measures it, and the series is picked from what it
    produced."""

    def __init__(self, config: Config, bench: str | None, target: Key | None,
                 machine: str | None, rounds: int | None, measure: str | None = None):
        self.config, self.bench, self.target = config, bench, target
        self.machine, self.rounds, self.mode = machine, rounds, measure
        self.batches = 0

    def measure(self, batch: list[CommitInfo]) -> dict[str, list[list[float]]]:
        from histbench.analysis.name_match import name_regex, pick_one
        from histbench.run.history_runner import Runner, RunOptions
        from histbench.run.rounds import Settings
        from histbench.store import results

        pattern = name_regex(self.target) if self.target else self._name_pattern()
        measure = self.mode or ("instructions" if self.target and
                                   benchmark_of(self.target[0])[1] else None)
        options = RunOptions(range_spec="", commits=[c.hash for c in batch], bench=[pattern],
                             machine=self.machine, interleave=True,
                             settings=Settings(rounds=self.rounds, measure=measure))
        runner = Runner(self.config, options, progress_stream=_Quiet())
        report = runner.run()
        self.batches += 1
        runs = list(map(results.load, report.saved))
        if self.target is None:  # named a benchmark never measured here: now it is
            fresh = {r.key for run in runs for r in run.results
                     if r.extra.get("batch") == runner.batch}
            self.target = pick_one(self.bench, fresh)
        out: dict[str, list[list[float]]] = {}
        for run in runs:
            r = run.by_key().get(self.target)
            out[run.commit.hash] = r.process_samples if r is not None and r.status == Status.OK \
                else []
        medians = ", ".join(f"{c.short} {_median_of(out.get(c.hash, []))}" for c in batch)
        print(f"batch {self.batches}: {medians}", file=sys.stderr)
        return out

    @property
    def noise_floor(self) -> float:
        """Counts repeat almost exactly: their comparisons need the floor (core/modes)."""
        kind = benchmark_of(self.target[0])[1] if self.target else None
        if kind is None and self.mode == "instructions":
            kind = "instructions"
        return count_floor(kind or "")

    def _name_pattern(self) -> str:
        from histbench.analysis.name_match import split_call

        call = split_call(self.bench)
        return call[0] if call else self.bench

    def earlier(self, commits: list[CommitInfo], versions: dict[Key, str]) -> list[dict]:
        """Earlier measurements that may stand as evidence (docs/api.md, "Bisect")."""
        from histbench.analysis.bisect import earlier_batches
        from histbench.run.history_runner import Runner, RunOptions
        from histbench.store import machine as machines
        from histbench.store import results

        # The machine and the environment the probes will be measured on, named as the
        # runner names them.
        runner = Runner(self.config, RunOptions(range_spec="", commits=[]))
        env = runner.environments()[0].name
        machine = machines.collect(self.machine).name
        found = []
        for c in commits:
            path = results.result_path(self.config.results_dir, machine, c.hash, env)
            try:
                run = results.load(path)
            except HistbenchError:
                continue  # not measured, or corrupt: no evidence
            r = run.by_key().get(self.target)
            if r is not None:
                found.append((c.hash, r))
        return earlier_batches(found, versions[self.target])


def _median_of(groups: list[list[float]]) -> str:
    values = sorted(v for g in groups for v in g)
    return f"{values[len(values) // 2]:.4g}" if values else "no result"


class _Quiet:
    """Progress goes nowhere during bisect: its own lines say what is measured."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
