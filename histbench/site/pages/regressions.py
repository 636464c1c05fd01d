"""A site's open regressions, as a page and as an Atom feed."""

from __future__ import annotations

from typing import Any

from histbench.core.formatting import format_value
from histbench.site.commit_rows import page_slug
from histbench.site.model import SiteData
from histbench.site.page_writer import PageWriter
from histbench.site.templating import isodate
from histbench.store.results import params_text


def write_regressions(writer: PageWriter, site: SiteData, context: dict[str, Any]) -> None:
    """``context``: ``summary_context`` of the site."""
    rows, fixed = [], 0
    for s in site.series.values():
        for c in s.changes:
            if c.regression and c.open:
                rows.append({"name": s.name, "page": page_slug(s.name),
                             "params": params_text(s.params), "last_good": c.last_good,
                             "first_bad": c.first_bad,
                             "before": format_value(c.before, s.unit),
                             "after": format_value(c.after, s.unit), "ratio": c.ratio,
                             "p_value": c.p_value})
            else:
                fixed += 1
    rows.sort(key=lambda r: (-r["first_bad"].date, r["name"]))
    rel = f"{site.slug}/regressions.html"
    writer.always(rel)
    writer.render(rel, "regressions.html", rows=rows, fixed=fixed, **context)
    feed = f"{site.slug}/regressions.atom"
    writer.always(feed)
    updated = isodate(max((r["first_bad"].date for r in rows), default=0))
    writer.render(feed, "feed.atom", rows=rows, updated=updated, **context)
