"""Every detected step of every benchmark of a history, as regressions and improvements.

A step is a regression when it goes the wrong way for its benchmark: up for times and
memory, down for a ``track_`` metric with ``higher_is_better``. Steps smaller than the
benchmark's threshold (config ``thresholds``) are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from histbench.analysis.run_diff import Verdict
from histbench.analysis.series import Series, worse_direction
from histbench.analysis.steps import Step
from histbench.core.formatting import ratio_of
from histbench.store.results import CommitInfo
from histbench.store.statuses import TextEnum


class Cause(TextEnum):
    """What moved a step: the code measured, or the machine it was measured on
    (analysis/events: a machine shift moves most benchmarks at once)."""

    CODE = "code"
    ENVIRONMENT = "environment"


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
    cause: Cause = Cause.CODE
    event: int | None = None  # number of its event (analysis/events), once grouped
    # the step with the machine's move divided out, where a machine shift coincides
    code_ratio: float | None = None

    @property
    def open_regression(self) -> bool:
        """What the open-regression counts count: machine shifts are listed, not counted."""
        return self.regression and self.open and self.cause == Cause.CODE

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
            "cause": self.cause.value, "event": self.event, "code_ratio": self.code_ratio,
        }


def changes_from_steps(series: Series, steps: list[Step],
                       commits: list[CommitInfo]) -> list[Change]:
    """Steps as changes: direction from ``higher_is_better``, the last commit with data
    before each step, and whether the series has come back since (open or fixed).

    ``series`` is anything with the attributes of a SeriesInfo (the site has its own)."""
    changes = []
    for k, step in enumerate(steps):
        last_good = commits[step.last_good] if 0 <= step.last_good < step.index else None
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


def __getattr__(name: str):
    """``find_changes`` lives in analysis/events now (steps are grouped and attributed
    across every series at once); this module's old path still hands it out."""
    if name == "find_changes":
        from histbench.analysis.events import find_changes

        return find_changes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
