"""Binary search for the commit that changed a benchmark, decided by statistics.

The search is given a ``measure`` callback instead of a runner: analysis never imports the
runner, and a test (or another front end) can feed it anything. Each probe is classified
as "like the good end" or "like the bad end" by the same test `histbench compare` uses;
when a probe is like both or like neither, the evidence is too thin to guess, so the probe
and the two ends are measured again (more processes) before deciding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from histbench.analysis.two_sample import Comparison, compare
from histbench.core.errors import HistbenchError
from histbench.core.formatting import format_ratio
from histbench.store.results import BenchmarkResult, CommitInfo
from histbench.store.statuses import Status

Groups = list[list[float]]
# measure(commits) -> per-process samples of each commit, measured together (interleaved
# rounds), so that the commits compared in one decision saw the same machine.
Measure = Callable[[list[CommitInfo]], dict[str, Groups]]


@dataclass
class Probe:
    commit: CommitInfo
    vs_good: Comparison
    vs_bad: Comparison
    side: str  # "good", "bad", or "closer to good/bad" after extra measurements
    measurements: int


@dataclass
class BisectResult:
    culprit: CommitInfo
    last_good: CommitInfo
    evidence: Comparison  # culprit against its parent, measured together
    probes: list[Probe] = field(default_factory=list)
    measured_commits: int = 0


def earlier_batches(found: list[tuple[str, BenchmarkResult]], version: str
                    ) -> list[dict[str, Groups]]:
    """Measurements already in the results folder that may stand as evidence.

    ``found``: (commit, result of the bisected series) read from one machine's and one
    environment's result files. Only results of the same benchmark version, measured
    fine, in an interleaved batch (``extra["batch"]``: continuous, bisect, run
    --interleave) count, grouped by batch; a batch counts only in decisions about commits
    it measured together. A nightly sequential run measured its commits minutes apart,
    so its results never decide a bisect.
    """
    batches: dict[str, dict[str, Groups]] = {}
    for commit, r in found:
        batch = r.extra.get("batch")
        if batch and r.status == Status.OK and r.version == version and r.process_samples:
            batches.setdefault(batch, {})[commit] = [list(g) for g in r.process_samples if g]
    return [b for _, b in sorted(batches.items()) if len(b) >= 2]


class _Evidence:
    """Samples per commit, by batch: a decision only uses batches that measured all of its
    commits together, because a machine that drifts between batches (thermal state, a
    neighbour's load) would otherwise decide the comparison."""

    def __init__(self, measure: Measure, earlier: list[dict[str, Groups]] | None = None,
                 noise_floor: float = 0.0):
        self.measure, self.noise_floor = measure, noise_floor
        self.batches: list[dict[str, Groups]] = list(earlier or [])
        self.seen: set[str] = set()

    def add(self, commits: list[CommitInfo]) -> None:
        got = self.measure(commits)
        for c in commits:
            if not any(g for g in got.get(c.hash, [])):
                raise HistbenchError(f"commit {c.short}: the benchmark produced no samples "
                                     "(it failed or the commit does not build)")
        self.batches.append({h: [g for g in groups if g] for h, groups in got.items()})
        self.seen.update(c.hash for c in commits)

    def together(self, *commits: CommitInfo) -> list[Groups]:
        out: list[Groups] = [[] for _ in commits]
        for batch in self.batches:
            if all(c.hash in batch for c in commits):
                for k, c in enumerate(commits):
                    out[k].extend(batch[c.hash])
        return out

    def compare(self, a: CommitInfo, b: CommitInfo, alpha: float) -> Comparison:
        ga, gb = self.together(a, b)
        return compare(ga, gb, alpha=alpha, noise_floor=self.noise_floor)


def bisect(commits: list[CommitInfo], measure: Measure, *, alpha: float = 0.05,
           max_extra: int = 2, earlier: list[dict[str, Groups]] | None = None,
           noise_floor: float = 0.0) -> BisectResult:
    """``commits``: good first, bad last, first-parent order. ``measure(list)`` measures
    the commits together and returns new per-process samples for each; ``earlier``:
    batches measured before (``earlier_batches``), added to the evidence."""
    if len(commits) < 2:
        raise HistbenchError("bisect needs a good and a bad commit with history between")
    evidence = _Evidence(measure, earlier, noise_floor)
    good, bad = 0, len(commits) - 1
    ends = None
    for _ in range(max_extra + 1):
        evidence.add([commits[good], commits[bad]])
        ends = evidence.compare(commits[good], commits[bad], alpha)
        if ends.significant:
            break
    if not ends.significant:
        raise HistbenchError(
            f"no significant change between {commits[good].short} and {commits[bad].short} "
            f"(ratio {format_ratio(ends.ratio)}, p = {ends.p_value:.3g}): nothing to bisect")
    probes = []
    while bad - good > 1:
        mid = (good + bad) // 2
        probe = _classify(commits[good], commits[mid], commits[bad], evidence, alpha,
                          max_extra)
        probes.append(probe)
        if probe.side.endswith("bad"):
            bad = mid
        else:
            good = mid
    culprit, last_good = commits[bad], commits[good]
    proof = evidence.compare(last_good, culprit, alpha)
    if not evidence.together(last_good, culprit)[0]:
        evidence.add([last_good, culprit])
        proof = evidence.compare(last_good, culprit, alpha)
    return BisectResult(culprit=culprit, last_good=last_good, evidence=proof,
                        probes=probes, measured_commits=len(evidence.seen))


def _classify(good: CommitInfo, c: CommitInfo, bad: CommitInfo, evidence: _Evidence,
              alpha: float, max_extra: int) -> Probe:
    for attempt in range(max_extra + 1):
        evidence.add([good, c, bad])  # the probe with both ends, interleaved
        vs_good = evidence.compare(good, c, alpha)
        vs_bad = evidence.compare(c, bad, alpha)
        if vs_good.significant != vs_bad.significant:
            side = "bad" if vs_good.significant else "good"
            return Probe(c, vs_good, vs_bad, side, attempt + 1)
    # Still ambiguous after extra rounds: side with the nearer end on the log scale.
    near_bad = _distance(vs_bad.ratio) < _distance(vs_good.ratio)
    side = "closer to bad" if near_bad else "closer to good"
    return Probe(c, vs_good, vs_bad, side, max_extra + 1)


def _distance(ratio: float | None) -> float:
    return abs(math.log(ratio)) if ratio is not None and ratio > 0 else math.inf
