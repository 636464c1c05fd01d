"""Every benchmark of two result sets side by side, with a verdict a CI job can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from histbench.analysis.series import worse_direction, worse_factor
from histbench.analysis.two_sample import Comparison, compare
from histbench.core.modes import count_floor
from histbench.store.results import BenchmarkResult, RunResults, label_of
from histbench.store.statuses import Status, TextEnum


class Verdict(TextEnum):
    """What a row says, in the order a reader wants the rows: what needs action first."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    FAILED = "failed"  # on either side
    DISTURBED = "disturbed"  # a change, but one side never had a quiet moment
    VERSION_CHANGED = "version changed"
    NEW = "new"
    GONE = "gone"  # removed from the suite
    NOT_RUN = "not run"  # in the suite on both sides, measured on one (-b left it out)
    NO_CHANGE = "no change"
    NOT_SIGNIFICANT = "not significant"
    SKIPPED = "skipped"  # on either side, neither failed


CHANGED = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.FAILED, Verdict.DISTURBED,
           Verdict.VERSION_CHANGED)
VERDICT_ORDER = tuple(Verdict)


@dataclass
class Row:
    name: str
    params: dict[str, str]
    unit: str
    verdict: Verdict
    a: BenchmarkResult | None
    b: BenchmarkResult | None
    comparison: Comparison | None = None

    @property
    def label(self) -> str:
        return label_of(self.name, self.params)

    @property
    def changed(self) -> bool:
        return self.verdict in CHANGED

    def disturbed_share(self, side: str) -> float | None:
        """Share of that side's samples left out as disturbed; None if not checked."""
        r = self.a if side == "a" else self.b
        return r.disturbance.share if r is not None and r.disturbance else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "params": self.params, "unit": self.unit,
            "verdict": Verdict(self.verdict).value,
            "a_median": _median(self.a), "b_median": _median(self.b),
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "disturbed_share": {"a": self.disturbed_share("a"),
                                "b": self.disturbed_share("b")},
        }


def _median(r: BenchmarkResult | None) -> float | None:
    return r.stats.median if r is not None and r.stats is not None else None


def verdict(c: Comparison, higher_is_better: bool, factor: float) -> Verdict:
    if not c.significant:
        return Verdict.NOT_SIGNIFICANT
    if c.ratio is None:  # values of either sign: no factor to hold against the threshold
        way = worse_direction(c.direction, higher_is_better)
        return {1: Verdict.REGRESSION, -1: Verdict.IMPROVEMENT}.get(way, Verdict.NO_CHANGE)
    worse = worse_factor(c.ratio, higher_is_better)
    if worse >= factor:
        return Verdict.REGRESSION
    if worse <= 1 / factor:
        return Verdict.IMPROVEMENT
    return Verdict.NO_CHANGE


def compare_results(ra: BenchmarkResult | None, rb: BenchmarkResult | None, *,
                    alpha: float = 0.05, method: str = "welch") -> Comparison | None:
    """Two results of one benchmark, where they can be compared at all (both measured
    fine, by the same version of the benchmark): results imported from asv process by
    process, counts against their noise floor."""
    if ra is None or rb is None or ra.version != rb.version \
            or not ra.status == rb.status == Status.OK:
        return None
    return compare(ra.process_samples, rb.process_samples, alpha=alpha, method=method,
                   by_process=ra.imported or rb.imported, noise_floor=count_floor(rb.kind))


def compare_runs(a: RunResults, b: RunResults, *, alpha: float = 0.05,
                 factor: float = 1.1, method: str = "welch") -> list[Row]:
    """Rows ordered as a reader wants them: regressions first, then the rest."""
    left, right = a.by_key(), b.by_key()
    rows = []
    for key in list(dict.fromkeys([*left, *right])):
        ra, rb = left.get(key), right.get(key)
        ref = rb or ra
        comparison = compare_results(ra, rb, alpha=alpha, method=method)
        found = _judge(ra, rb, comparison, factor)
        if found in (Verdict.NEW, Verdict.GONE) and _left_out(ref.name, b if rb is None else a):
            found = Verdict.NOT_RUN
        rows.append(Row(ref.name, dict(ref.params), ref.unit, found, ra, rb, comparison))
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return sorted(rows, key=lambda r: (rank[r.verdict], r.label))


def _judge(ra: BenchmarkResult | None, rb: BenchmarkResult | None,
           comparison: Comparison | None, factor: float) -> Verdict:
    if ra is None:
        return Verdict.NEW
    if rb is None:
        return Verdict.GONE
    if ra.version != rb.version:
        return Verdict.VERSION_CHANGED
    if comparison is None:  # a side did not measure
        return Verdict.FAILED if Status.FAILED in (ra.status, rb.status) else Verdict.SKIPPED
    found = verdict(comparison, rb.higher_is_better, factor)
    if found in (Verdict.REGRESSION, Verdict.IMPROVEMENT) and _unsettled(ra, rb) \
            and not _beyond_the_machine(comparison, ra, rb, found, factor):
        return Verdict.DISTURBED
    return found


def _left_out(name: str, missing_side: RunResults) -> bool:
    """Whether the side without a result had the benchmark in its suite: then -b left it
    out of that run, it was not added or removed. A file that does not list its suite
    (older ones) says nothing."""
    return name in missing_side.suite


def _unsettled(*results: BenchmarkResult) -> bool:
    """A side measured without a single quiet moment (every sample disturbed, even after
    waiting and running again) cannot carry a verdict: its level is the machine's."""
    return any(r.disturbance is not None and r.disturbance.fallback for r in results)


def _beyond_the_machine(c: Comparison, ra: BenchmarkResult, rb: BenchmarkResult,
                        found: Verdict, factor: float) -> bool:
    """Whether the change is larger than any the machine could have made: a 10x slowdown
    measured while the machine ran at most 2.5x slow is still at least a 4x regression,
    and a pull-request check must not wave it through as "disturbed". A slow machine only
    ever makes the side it slowed take longer, so the code's own ratio lies between the
    ratio over B's worst slowdown and the ratio times A's."""
    if c.ratio is None or c.ratio <= 0:
        return False
    lowest = c.ratio / _worst_if_unsettled(rb)
    highest = c.ratio * _worst_if_unsettled(ra)
    ends = [worse_factor(r, rb.higher_is_better) for r in (lowest, highest)]
    if found == Verdict.REGRESSION:
        return min(ends) >= factor
    return max(ends) <= 1 / factor


def _worst_if_unsettled(r: BenchmarkResult) -> float:
    d = r.disturbance
    return max(1.0, d.worst) if d is not None and d.fallback else 1.0


def has_regression(rows: list[Row]) -> bool:
    return any(r.verdict == Verdict.REGRESSION for r in rows)
