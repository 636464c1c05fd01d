"""What every page's template is told about the site it belongs to."""

from __future__ import annotations

from typing import Any

from histbench.site.model import SiteData


def summary_context(site: SiteData, sites: list[SiteData]) -> dict[str, Any]:
    """For the summary pages, with the count of open regressions for their badge: code
    events with an open regression (machine shifts are listed, not counted)."""
    if site.events is not None:
        open_count = len(site.events.open_events)
    else:
        open_count = sum(1 for s in site.series.values() for c in s.changes
                         if c.open_regression)
    return {"site": site, "sites": sites, "open_count": open_count}


def stable_context(site: SiteData, sites: list[SiteData]) -> dict[str, Any]:
    """For benchmark and commit pages. The open-regression badge lives on the summary pages
    only: in the header of every page it would make one new regression re-render a
    thousand commit pages."""
    return {"site": site, "sites": sites, "open_count": None}
