"""A site's events (analysis/events), found before its pages are written: every page
needs them (the benchmark pages' bands and causes, the regressions page and its badge),
and they need every series' steps at once."""

from __future__ import annotations

import math
from collections.abc import Callable

from histbench.analysis.changes import Cause, Change
from histbench.analysis.events import SeriesHistory, find_events, hardware_changes
from histbench.analysis.steps import Step
from histbench.site.model import SiteData, StepCache


def find_site_events(site: SiteData, steps: StepCache, alpha: float,
                     threshold: Callable[[str], float], jobs: int = 1) -> None:
    """Sets each series' steps and changes (with their causes and events), the site's
    events and the bands its plots shade (its machine shifts)."""
    series = list(site.series.values())
    inputs = [SeriesHistory(s, s.detection_samples(), threshold(s.name)) for s in series]

    def detect(work: list, alpha: float) -> list:
        return steps.detect_many(work, alpha, jobs)

    report = find_events(inputs, site.commits, alpha=alpha,
                         hardware=hardware_changes(site.fingerprints), detect=detect)
    position = {c.hash: i for i, c in enumerate(site.commits)}
    by_series: dict[tuple, list[Change]] = {s.key: [] for s in series}
    for change in report.changes:
        by_series[change.series.key].append(change)
    for s in series:
        s.changes = sorted(by_series[s.key], key=lambda c: position[c.first_bad.hash])
        s.steps = [_as_step(c, position) for c in s.changes]
    site.events = report
    site.environment_bands = [(e.start, position[e.last.hash])
                              for e in report.events if e.cause == Cause.ENVIRONMENT]


def _as_step(change: Change, position: dict[str, int]) -> Step:
    """A change as the plots mark it: where event finding placed it (a code change at a
    machine shift is placed by the corrected history; a hidden one has no raw step)."""
    index = position[change.first_bad.hash]
    good = position[change.last_good.hash] if change.last_good else index - 1
    return Step(index=index, before=change.before, after=change.after,
                ratio=change.ratio if change.ratio is not None else math.nan,
                p_value=change.p_value, last_good=good)
