"""What the stages of event finding share: the input series, the detector, the steps as
changes, and the groups of them as they are attributed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from histbench.analysis.changes import Change, changes_from_steps
from histbench.analysis.events import attribution
from histbench.analysis.events.clusters import TOLERANCE
from histbench.analysis.steps import Step, detect_steps
from histbench.core.modes import count_floor
from histbench.store.results import CommitInfo

TIMING_KIND = "time"  # the kind whose values a machine shift moves

# What is detected: per series, its samples, threshold (min_change) and noise floor.
Job = tuple[Sequence[Sequence[float]], float, float]
# Steps of many series at once: detect_steps on each (``detect_all``), or a cache and a
# pool of processes in front of it (the site's).
Detector = Callable[[list[Job], float], list[list[Step]]]


def detect_all(jobs: list[Job], alpha: float) -> list[list[Step]]:
    return [detect_steps(samples, alpha=alpha, min_change=min_change, noise_floor=floor)
            for samples, min_change, floor in jobs]


@dataclass(frozen=True)
class SeriesHistory:
    """One series as event finding reads it: what identifies it (a SeriesInfo, or the
    site's own series), its samples per commit as step detection sees them, and its
    threshold (config ``thresholds``)."""

    info: Any
    samples: Sequence[Sequence[float]]
    min_change: float = 0.0


@dataclass
class Found:
    """One series' step as a change, with where it is (``series``: its index in the
    input; ``index``: its first bad commit's position)."""

    series: int
    index: int
    change: Change


@dataclass
class Workspace:
    """What the stages of event finding share: the input, the timing series' levels as
    arrays, and the groups of steps as they are attributed."""

    series: Sequence[SeriesHistory]
    commits: list[CommitInfo]
    alpha: float
    detect: Detector
    hardware: Mapping[int, str]
    row_of: dict[int, int]  # series index -> row in ``levels`` (timing series only)
    levels: np.ndarray  # timing series x commits: log levels
    groups: list[list[Found]] = field(default_factory=list)
    shifts: dict[int, attribution.Shift] = field(default_factory=dict)  # by group

    @cached_property
    def position(self) -> dict[str, int]:
        """Commit hash -> index (the stages look changes' commits up many times)."""
        return {c.hash: i for i, c in enumerate(self.commits)}

    def hardware_at(self, first: int, last: int) -> str | None:
        """The fingerprint change at a group's commits (or just before: its last good
        commit may be the first on the new hardware), if any."""
        return next((self.hardware[i] for i in sorted(self.hardware)
                     if first - TOLERANCE <= i <= last), None)

    def span(self, g: int) -> tuple[int, int]:
        group = self.groups[g]
        return min(f.index for f in group), max(f.index for f in group)

    def changes(self, series: Sequence[SeriesHistory],
                samples: list[Sequence[Sequence[float]]]) -> list[list[tuple[Step, Change]]]:
        """Per series, its steps (in ``samples``) with their changes."""
        found = self.detect([(x, s.min_change, count_floor(s.info.kind))
                             for s, x in zip(series, samples, strict=True)], self.alpha)
        return [list(zip(steps, changes_from_steps(s.info, steps, self.commits),
                         strict=True))
                for s, steps in zip(series, found, strict=True)]
