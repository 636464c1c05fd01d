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

from histbench.errors import HistbenchError
from histbench.results import CommitInfo
from histbench.stats import Comparison, compare

Groups = list[list[float]]
Measure = Callable[[CommitInfo], Groups]


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
    evidence: Comparison  # culprit against its parent
    probes: list[Probe] = field(default_factory=list)
    measured_commits: int = 0


def bisect(commits: list[CommitInfo], measure: Measure, *, alpha: float = 0.05,
           max_extra: int = 2) -> BisectResult:
    """``commits``: good first, bad last, first-parent order. ``measure(commit)`` returns
    new per-process samples each call; repeated calls add evidence."""
    if len(commits) < 2:
        raise HistbenchError("bisect needs a good and a bad commit with history between")
    data: dict[str, Groups] = {}

    def more(c: CommitInfo) -> Groups:
        data.setdefault(c.hash, []).extend(g for g in measure(c) if g)
        if not data[c.hash]:
            raise HistbenchError(f"commit {c.short}: the benchmark produced no samples "
                                 "(it failed or the commit does not build)")
        return data[c.hash]

    good, bad = 0, len(commits) - 1
    ends = compare(more(commits[good]), more(commits[bad]), alpha=alpha)
    for _ in range(max_extra):
        if ends.significant:
            break
        ends = compare(more(commits[good]), more(commits[bad]), alpha=alpha)
    if not ends.significant:
        raise HistbenchError(
            f"no significant change between {commits[good].short} and {commits[bad].short} "
            f"(ratio {ends.ratio:.3f}, p = {ends.p_value:.3g}): nothing to bisect")
    probes = []
    while bad - good > 1:
        mid = (good + bad) // 2
        probe = _classify(commits, good, mid, bad, data, more, alpha, max_extra)
        probes.append(probe)
        if probe.side.endswith("bad"):
            bad = mid
        else:
            good = mid
    evidence = compare(data[commits[good].hash], data[commits[bad].hash], alpha=alpha)
    return BisectResult(culprit=commits[bad], last_good=commits[good], evidence=evidence,
                        probes=probes, measured_commits=len(data))


def _classify(commits, good, mid, bad, data, more, alpha, max_extra) -> Probe:
    c = commits[mid]
    more(c)
    for attempt in range(max_extra + 1):
        vs_good = compare(data[commits[good].hash], data[c.hash], alpha=alpha)
        vs_bad = compare(data[c.hash], data[commits[bad].hash], alpha=alpha)
        if vs_good.significant != vs_bad.significant:
            side = "bad" if vs_good.significant else "good"
            return Probe(c, vs_good, vs_bad, side, attempt + 1)
        if attempt < max_extra:  # inconclusive: measure more rather than guess
            for i in (good, mid, bad):
                more(commits[i])
    # Still ambiguous after extra rounds: side with the nearer end on the log scale.
    near_bad = _distance(vs_bad.ratio) < _distance(vs_good.ratio)
    side = "closer to bad" if near_bad else "closer to good"
    return Probe(c, vs_good, vs_bad, side, max_extra + 1)


def _distance(ratio: float) -> float:
    return abs(math.log(ratio)) if ratio > 0 else math.inf
