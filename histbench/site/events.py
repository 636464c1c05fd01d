"""A site's events (analysis/events), found before its pages are written: every page
needs them (the benchmark pages' bands and causes, the regressions page and its badge),
and they need every series' steps at once."""

from __future__ import annotations

from collections.abc import Callable

from histbench.analysis.changes import Cause, Change
from histbench.analysis.events import SeriesHistory, find_events, hardware_changes
from histbench.core.modes import count_floor
from histbench.site.model import SiteData, StepCache


def find_site_events(site: SiteData, steps: StepCache, alpha: float,
                     threshold: Callable[[str], float], jobs: int = 1) -> None:
    """Sets each series' steps and changes (with their causes and events), the site's
    events and the bands its plots shade (its machine shifts)."""
    series = list(site.series.values())
    inputs = [SeriesHistory(s, s.detection_samples(), threshold(s.name)) for s in series]

    def detect(work: list, alpha: float) -> list:
        return steps.detect_many(work, alpha, jobs)

    raw = detect([(x.samples, x.min_change, count_floor(s.kind))
                  for x, s in zip(inputs, series, strict=True)], alpha)
    for s, found in zip(series, raw, strict=True):
        s.steps = found
    report = find_events(inputs, site.commits, alpha=alpha,
                         hardware=hardware_changes(site.fingerprints), detect=detect)
    by_series: dict[tuple, list[Change]] = {s.key: [] for s in series}
    for change in report.changes:
        by_series[change.series.key].append(change)
    for s in series:
        s.changes = sorted(by_series[s.key], key=lambda c: c.first_bad.date)
    position = {c.hash: i for i, c in enumerate(site.commits)}
    site.events = report
    site.environment_bands = [(position[e.first.hash], position[e.last.hash])
                              for e in report.events if e.cause == Cause.ENVIRONMENT]
