"""Every benchmark of two result sets side by side, with a verdict a CI job can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from histbench.analysis.series import worse_factor
from histbench.analysis.two_sample import Comparison, compare
from histbench.store.results import BenchmarkResult, RunResults, label_of

VERDICT_ORDER = ("regression", "improvement", "failed", "disturbed", "version changed", "new",
                 "gone", "no change", "not significant")


@dataclass
class Row:
    name: str
    params: dict[str, str]
    unit: str
    verdict: str
    a: BenchmarkResult | None
    b: BenchmarkResult | None
    comparison: Comparison | None = None

    @property
    def label(self) -> str:
        return label_of(self.name, self.params)

    @property
    def changed(self) -> bool:
        return self.verdict in ("regression", "improvement", "failed", "disturbed",
                                "version changed")

    def disturbed_share(self, side: str) -> float | None:
        """Share of that side's samples left out as disturbed; None if not checked."""
        r = self.a if side == "a" else self.b
        return r.disturbance.share if r is not None and r.disturbance else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "params": self.params, "unit": self.unit,
            "verdict": self.verdict,
            "a_median": _median(self.a), "b_median": _median(self.b),
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "disturbed_share": {"a": self.disturbed_share("a"),
                                "b": self.disturbed_share("b")},
        }


def _median(r: BenchmarkResult | None) -> float | None:
    return r.stats.median if r is not None and r.stats is not None else None


def verdict(c: Comparison, higher_is_better: bool, factor: float) -> str:
    if not c.significant:
        return "not significant"
    worse = worse_factor(c.ratio, higher_is_better)
    if worse >= factor:
        return "regression"
    if worse <= 1 / factor:
        return "improvement"
    return "no change"


def compare_runs(a: RunResults, b: RunResults, *, alpha: float = 0.05,
                 factor: float = 1.1, method: str = "welch") -> list[Row]:
    """Rows ordered as a reader wants them: regressions first, then the rest."""
    left, right = a.by_key(), b.by_key()
    rows = []
    for key in list(dict.fromkeys([*left, *right])):
        ra, rb = left.get(key), right.get(key)
        ref = rb or ra
        row = Row(ref.name, dict(ref.params), ref.unit, "", ra, rb)
        if ra is None:
            row.verdict = "new"
        elif rb is None:
            row.verdict = "gone"
        elif ra.version != rb.version:
            row.verdict = "version changed"
        elif ra.status != "ok" or rb.status != "ok":
            row.verdict = "failed" if "failed" in (ra.status, rb.status) else "skipped"
        else:
            row.comparison = compare(ra.process_samples, rb.process_samples, alpha=alpha,
                                     method=method)
            row.verdict = verdict(row.comparison, rb.higher_is_better, factor)
            if row.verdict in ("regression", "improvement") and _unsettled(ra, rb):
                row.verdict = "disturbed"
        rows.append(row)
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return sorted(rows, key=lambda r: (rank.get(r.verdict, len(rank)), r.label))


def _unsettled(*results: BenchmarkResult) -> bool:
    """A side measured without a single quiet moment (every sample disturbed, even after
    waiting and running again) cannot carry a verdict: its level is the machine's."""
    return any(r.disturbance is not None and r.disturbance.fallback for r in results)


def has_regression(rows: list[Row]) -> bool:
    return any(r.verdict == "regression" for r in rows)
