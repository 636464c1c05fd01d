"""Every detected step of every benchmark of a history, as regressions and improvements.

A step is a regression when it goes the wrong way for its benchmark: up for times and
memory, down for a ``track_`` metric with ``higher_is_better``. Steps smaller than the
benchmark's threshold (config ``thresholds``) are not reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from histbench.analysis.run_diff import Verdict
from histbench.analysis.series import History, Series, worse_direction
from histbench.analysis.shard_offsets import divided
from histbench.analysis.steps import Step, detect_steps
from histbench.core.formatting import ratio_of
from histbench.core.modes import count_floor
from histbench.store.results import CommitInfo


@dataclass
class Change:
    series: Series
    last_good: CommitInfo | None
    first_bad: CommitInfo
    before: float
    after: float
    ratio: float | None  # None where the levels are not both positive (formatting.ratio_of)
    p_value: float
    regression: bool
    open: bool  # the series has not come back since

    @property
    def verdict(self) -> Verdict:
        return Verdict.REGRESSION if self.regression else Verdict.IMPROVEMENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.series.name, "params": self.series.params,
            "unit": self.series.unit, "kind": self.verdict.value,
            "last_good": self.last_good.hash if self.last_good else None,
            "first_bad": self.first_bad.hash, "subject": self.first_bad.subject,
            "date": self.first_bad.date, "before": self.before, "after": self.after,
            "ratio": self.ratio, "p_value": self.p_value, "open": self.open,
        }


def series_changes(series: Series, commits: list[CommitInfo], *, alpha: float = 0.05,
                   min_change: float = 0.0,
                   factors: list[float] | None = None) -> list[Change]:
    """``factors``: per commit, what its samples are divided by first (the runner offsets
    of sharded runs: ``History.factors``)."""
    steps = detect_steps(divided(series.samples(), factors), alpha=alpha,
                         min_change=min_change, noise_floor=count_floor(series.kind))
    return changes_from_steps(series, steps, commits)


def changes_from_steps(series: Series, steps: list[Step],
                       commits: list[CommitInfo]) -> list[Change]:
    """Steps as changes: direction from ``higher_is_better``, the last commit with data
    before each step, and whether the series has come back since (open or fixed).

    ``series`` is anything with the attributes of a Series (the site has its own)."""
    samples = series.samples() if steps else []
    changes = []
    for k, step in enumerate(steps):
        with_data = [i for i in range(step.index) if len(samples[i])]
        last_good = commits[with_data[-1]] if with_data else None
        moved = step.after - step.before
        worse = worse_direction(moved, series.higher_is_better) > 0
        later_levels = [s.after for s in steps[k + 1:]]
        final = later_levels[-1] if later_levels else step.after
        # open while the series is still at least half-way from its old level to the new
        is_open = moved != 0 and (final - step.before) / moved >= 0.5
        changes.append(Change(series, last_good, commits[step.index], step.before,
                              step.after, ratio_of(step.before, step.after), step.p_value,
                              worse, is_open))
    return changes


def find_changes(history: History, *, alpha: float = 0.05,
                 threshold: Callable[[str], float] = lambda name: 0.0) -> list[Change]:
    """Regressions first, then improvements; newest first within each."""
    found: list[Change] = []
    for series in history.series.values():
        found += series_changes(series, history.commits, alpha=alpha,
                                min_change=threshold(series.name),
                                factors=history.factors(series.key))
    order = {c.hash: i for i, c in enumerate(history.commits)}
    return sorted(found, key=lambda c: (not c.regression, -order[c.first_bad.hash],
                                        c.series.label))
