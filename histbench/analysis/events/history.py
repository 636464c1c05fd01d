"""Events of a loaded ``History`` (the commands' view of a machine's results)."""

from __future__ import annotations

from collections.abc import Callable

from histbench.analysis.changes import Change
from histbench.analysis.events.event import EventReport
from histbench.analysis.events.finder import SeriesHistory, find_events, hardware_changes
from histbench.analysis.series import History
from histbench.analysis.shard_offsets import divided


def history_events(history: History, *, alpha: float = 0.05,
                   threshold: Callable[[str], float] = lambda name: 0.0) -> EventReport:
    series = [SeriesHistory(s, divided(s.samples(), history.factors(s.key)),
                            threshold(s.name))
              for s in history.series.values()]
    fingerprints = [history.runs[c.hash].fingerprint for c in history.commits]
    return find_events(series, history.commits, alpha=alpha,
                       hardware=hardware_changes(fingerprints))


def find_changes(history: History, *, alpha: float = 0.05,
                 threshold: Callable[[str], float] = lambda name: 0.0) -> list[Change]:
    """Every step, regressions first, then improvements; newest first within each; each
    with its cause and event (what `regressions` numbers and `bisect --step` takes)."""
    return history_events(history, alpha=alpha, threshold=threshold).changes
