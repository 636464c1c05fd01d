"""A site's index: every benchmark with its latest value, its change against the previous
measurement and the best one, a sparkline and its open regressions."""

from __future__ import annotations

import math
from typing import Any

from histbench.analysis.series import PointStatus, worse_direction
from histbench.core.formatting import format_value, ratio_of
from histbench.site.commit_rows import page_slug
from histbench.site.model import SeriesData, SiteData
from histbench.site.page_writer import PageWriter
from histbench.site.sparklines import sparkline
from histbench.store.results import params_text

NOTABLE = 0.02  # a change smaller than this is shown uncoloured


def write_index_pages(writer: PageWriter, site: SiteData, context: dict[str, Any], *,
                      top: bool, position: dict[str, int] | None = None) -> None:
    """The site's index, and with ``top`` its copy at the top of the html folder (links
    into the site's folder by ``base``). ``context``: ``summary_context`` of the site;
    ``position``: first-parent hash -> index, to say how much of the history was measured."""
    rows = index_rows(site)
    context = {**context, "coverage": coverage(site, position or {})}
    pages = [(f"{site.slug}/index.html", "")] + ([("index.html", f"{site.slug}/")] if top else [])
    for rel, base in pages:
        writer.always(rel)
        latest = site.commits[-1]
        writer.render(rel, "index.html", groups=rows, latest=latest, base=base,
                      latest_origin=site.origins.get(latest.hash, ""),
                      latest_errors=site.suite_errors.get(latest.hash, []), **context)


def coverage(site: SiteData, position: dict[str, int]) -> tuple[int, int] | None:
    """(commits measured, first-parent commits from the first to the last of them) when
    some were skipped (``run --adaptive`` or ``--steps``), else None."""
    placed = [position[c.hash] for c in site.commits if c.hash in position]
    if len(placed) < 2:
        return None
    span = max(placed) - min(placed) + 1
    return (len(placed), span) if len(placed) < span else None


def skipped_before(site: SiteData, i: int, position: dict[str, int]) -> int:
    """First-parent commits between measured commit ``i`` and the one before it that were
    not measured: what the line between their two points on a plot passes over."""
    if i == 0 or site.commits[i].hash not in position \
            or site.commits[i - 1].hash not in position:
        return 0
    return max(0, position[site.commits[i].hash] - position[site.commits[i - 1].hash] - 1)


def index_rows(site: SiteData) -> list[tuple[str, list[dict]]]:
    return [(group, [index_row(s, group) for s in members])
            for group, members in site.groups().items()]


def index_row(s: SeriesData, group: str) -> dict[str, Any]:
    last = s.latest()
    prev = next((i for i in range(last - 1, -1, -1) if s.status[i] == PointStatus.OK), None) \
        if last is not None else None
    ok = [v for v in s.median if v is not None]
    best = (max(ok) if s.higher_is_better else min(ok)) if ok else None
    latest = s.median[last] if last is not None else None
    prev_text, prev_class = _change(s, latest, s.median[prev] if prev is not None else None)
    best_text, best_class = _change(s, latest, best)
    failing = s.status[-1] == PointStatus.FAILED if s.status else False
    return {
        "series": s, "page": page_slug(s.name),
        "short": s.name[len(group) + 1:] if group else s.name,
        "params": params_text(s.params), "spark": sparkline(s.median),
        "latest": (f"{format_value(latest, s.unit)} [{format_value(s.ci_low[last], s.unit)}"
                   f", {format_value(s.ci_high[last], s.unit)}]") if latest is not None
        else s.status[-1].value if s.status else "",
        "prev": prev_text, "prev_class": prev_class, "best": best_text,
        "best_class": best_class,
        "open": sum(1 for c in s.changes if c.open_regression),
        "failed": s.reasons[-1] if failing else "",
    }


def _change(s: SeriesData, latest: float | None, ref: float | None) -> tuple[str, str]:
    """The latest value against ``ref``: the change in percent and its CSS class."""
    if latest is None or ref is None:
        return "", ""
    ratio = ratio_of(ref, latest)  # None across zero: no percentage, the direction only
    worse = worse_direction(latest - ref, s.higher_is_better) > 0
    notable = abs(ratio - 1) > NOTABLE if ratio is not None else latest != ref
    return _pct(ratio), "worse" if worse and notable else "better" if notable else ""


def _pct(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return ""
    return f"{(ratio - 1) * 100:+.1f}%"
