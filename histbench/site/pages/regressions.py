"""A site's open regressions, as a page and as an Atom feed: one entry per event (the
steps of several benchmarks at one commit), code events first; machine shifts are listed
on their own and not counted (analysis/events)."""

from __future__ import annotations

from typing import Any

from histbench.analysis.changes import Cause, Change
from histbench.analysis.events import Event
from histbench.analysis.events.event import spread
from histbench.core.formatting import format_value
from histbench.site.commit_rows import page_slug
from histbench.site.model import SiteData
from histbench.site.page_writer import PageWriter
from histbench.site.templating import isodate
from histbench.store.results import params_text


def write_regressions(writer: PageWriter, site: SiteData, context: dict[str, Any]) -> None:
    """``context``: ``summary_context`` of the site."""
    events = site.events.events if site.events is not None else []
    open_events = [_event_row(e) for e in events if e.open]
    shifts = [_event_row(e) for e in events if e.cause == Cause.ENVIRONMENT]
    others = sum(1 for e in events if e.cause == Cause.CODE and not e.open)
    open_events.sort(key=lambda r: (-r["size"], -r["first"].date))
    rel = f"{site.slug}/regressions.html"
    writer.always(rel)
    writer.render(rel, "regressions.html", events=open_events, shifts=shifts, others=others,
                  **context)
    feed = f"{site.slug}/regressions.atom"
    writer.always(feed)
    updated = isodate(max((r["first"].date for r in open_events), default=0))
    writer.render(feed, "feed.atom", events=open_events, updated=updated, **context)


def _event_row(e: Event) -> dict[str, Any]:
    """An event as the page shows it: a code event by its open regressions (the steps
    listed), with their own count and ratios; a machine shift whole."""
    shown = [c for c in e.changes if e.cause == Cause.ENVIRONMENT or c.open_regression]
    ratio, low, high = spread(shown)
    return {"number": e.number, "cause": e.cause.value, "first": e.first, "last": e.last,
            "last_good": e.last_good, "size": len(shown), "measured": e.measured,
            "ratio": ratio, "low": low, "high": high, "steps": [_step_row(c) for c in shown],
            "machine_factor": e.machine_factor, "hardware": e.hardware,
            "reverts": e.reverts, "reverted_by": e.reverted_by,
            "subjects": e.subjects}


def _step_row(c: Change) -> dict[str, Any]:
    s = c.series
    return {"name": s.name, "page": page_slug(s.name), "params": params_text(s.params),
            "before": format_value(c.before, s.unit), "after": format_value(c.after, s.unit),
            "ratio": c.ratio, "code_ratio": c.code_ratio, "p_value": c.p_value,
            "first_bad": c.first_bad, "last_good": c.last_good}
