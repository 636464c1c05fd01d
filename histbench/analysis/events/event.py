"""What event finding hands back: events (steps of several benchmarks at one commit, one
cause) and the per-step changes they group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from histbench.analysis.changes import Cause, Change
from histbench.store.results import CommitInfo


@dataclass(frozen=True)
class Event:
    """Steps of one or more benchmarks at one commit (or within a few, where their
    positions are uncertain), and what moved them.

    ``ratio`` is the median over its steps of after / before (for code events, with the
    machine's move divided out where one coincides: ``Change.code_ratio``); ``low`` and
    ``high`` are the quartiles of the same ratios, the event's spread."""

    number: int
    cause: Cause
    start: int  # position of ``first`` in the history (dates can run backwards)
    first: CommitInfo  # earliest first-bad commit of its steps
    last: CommitInfo  # latest first-bad commit of its steps
    last_good: CommitInfo | None  # the last commit with data before ``first``
    changes: tuple[Change, ...]
    measured: int  # series with data on both sides of it
    ratio: float | None
    low: float | None
    high: float | None
    machine_factor: float | None  # how the common mode moved across it (time series)
    hardware: str | None = None  # how the hardware fingerprint changed in it, if it did
    reverts: int | None = None  # the event this one undoes (a flip-flop pair)
    reverted_by: int | None = None

    @property
    def size(self) -> int:
        return len(self.changes)

    @property
    def regressions(self) -> int:
        return sum(c.regression for c in self.changes)

    @property
    def open(self) -> bool:
        """An open regression: a code event with a step that is worse and still there."""
        return any(c.open_regression for c in self.changes)

    @property
    def subjects(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in sorted(self.changes, key=lambda c: c.first_bad.date):
            if c.first_bad.subject:
                seen.setdefault(c.first_bad.subject)
        return list(seen)

    def magnitude(self) -> float:
        """How far its median step moved, up or down, for ordering (1 when unknown)."""
        if self.ratio is None or self.ratio <= 0:
            return 1.0
        return max(self.ratio, 1 / self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "cause": self.cause.value,
            "first_bad": self.first.hash, "last_bad": self.last.hash,
            "last_good": self.last_good.hash if self.last_good else None,
            "subjects": self.subjects, "date": self.first.date,
            "benchmarks": self.size, "measured": self.measured,
            "regressions": self.regressions, "improvements": self.size - self.regressions,
            "open": self.open, "ratio": self.ratio, "ratio_low": self.low,
            "ratio_high": self.high, "machine_factor": self.machine_factor,
            "hardware_changed": self.hardware, "reverts": self.reverts,
            "reverted_by": self.reverted_by,
            "steps": [{"benchmark": c.series.name, "params": c.series.params,
                       "ratio": c.ratio, "code_ratio": c.code_ratio,
                       "kind": c.verdict.value, "first_bad": c.first_bad.hash}
                      for c in self.changes],
        }


def spread(changes: list[Change]) -> tuple[float | None, float | None, float | None]:
    """Median and quartiles of the steps' ratios (machine-corrected where known)."""
    ratios = [c.code_ratio if c.code_ratio is not None else c.ratio for c in changes]
    logs = [np.log(r) for r in ratios if r is not None and r > 0]
    if not logs:
        return None, None, None
    q1, q2, q3 = np.quantile(logs, [0.25, 0.5, 0.75])
    return float(np.exp(q2)), float(np.exp(q1)), float(np.exp(q3))


@dataclass
class EventReport:
    """Everything event finding found in one history."""

    events: list[Event]
    changes: list[Change]  # every step, numbered as `regressions` and `bisect --step` do
    common_mode: list[float] = field(default_factory=list)  # per commit: machine factor

    @property
    def open_events(self) -> list[Event]:
        return [e for e in self.events if e.open]

    @property
    def environment(self) -> list[Event]:
        return [e for e in self.events if e.cause == Cause.ENVIRONMENT]
