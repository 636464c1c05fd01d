"""The table of a commit page: every benchmark at that commit against the last commit it
was measured at, detected steps first, then failures, then the largest changes.

A site has a page per commit and a row per benchmark on each: a quarter of a million rows
for a thousand commits. So rows are formatted here, not by the template, which is eight
times faster. None of it passes through the template's autoescaping: every piece of
a row that comes from data is escaped here. Each benchmark's name and parameters are escaped
once per site; values (which carry the suite's unit) and reasons as they are formatted; the
rest of a row is numbers and fixed words. Each value is formatted and escaped once: a
commit's value is the next page's "before".
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from markupsafe import Markup, escape

from histbench.analysis.changes import Cause
from histbench.analysis.series import PointStatus
from histbench.core.formatting import format_ratio, format_value, ratio_of
from histbench.site.model import SeriesData, SiteData
from histbench.store.results import params_text

ROW = '<tr class="{}">{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n'


def page_slug(name: str) -> str:
    """A file name for a benchmark page, unique and stable for any benchmark name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if slug != name or not slug or len(slug) > 120 or slug.startswith("."):
        # Replaced characters (track_ü and track_ö would both be track__), a cut or a
        # hidden name: the name's own hash keeps the page unique and stable.
        slug = slug.lstrip(".")[:100] + "-" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return slug + ".html"


class CommitRows:
    """One site's commit tables, page after page in history order (``start``, then
    ``rows`` and ``advance`` for each commit)."""

    def __init__(self, site: SiteData):
        self.site = site
        self.series = sorted(site.series.values(), key=lambda s: s.label)
        self.step_at = [{c.first_bad.hash: c for c in s.changes} for s in self.series]
        self.heads = [Markup('<td><a href="../b/{}">{}</a></td><td class="params">{}</td>')
                      .format(page_slug(s.name), s.name, params_text(s.params))
                      for s in self.series]
        self.labels = hashlib.sha256(repr([s.label for s in self.series]).encode()).hexdigest()
        self.changed_at: dict[str, list] = {}
        for s in self.series:
            for c in s.changes:
                self.changed_at.setdefault(c.first_bad.hash, []).append(
                    (s.label, c.regression, round(c.p_value, 6), c.cause.value, c.event))
        self.prev: list[int | None] = []
        self.texts: list[dict[int, str]] = []

    def start(self, i: int) -> None:
        """Begin at commit ``i``: each series' last measured commit before it."""
        self.prev = [_last_ok(s, i) for s in self.series]
        self.texts = [{} for _ in self.series]  # formatted values, by commit

    def fingerprint(self, i: int) -> Any:
        """Everything commit ``i``'s table shows, cheap to compare."""
        commit = self.site.commits[i]
        return (self.labels, hashlib.sha256(self.site.row_fingerprint(i)).hexdigest(),
                [r for s in self.series if (r := s.reasons[i])],
                self.changed_at.get(commit.hash))

    def rows(self, i: int) -> Markup:
        """Commit ``i``'s table body."""
        commit = self.site.commits[i]
        rows = []
        for n, (s, head, p) in enumerate(zip(self.series, self.heads, self.prev, strict=True)):
            before = self.texts[n].get(p) if p is not None else ""
            key, html, now = _row(s, head, i, p, self.step_at[n].get(commit.hash), before)
            self.texts[n] = {i: now}
            rows.append((key, html))
        rows.sort(key=lambda r: r[0])
        return Markup("".join(html for _, html in rows))

    def advance(self, i: int) -> None:
        """Commit ``i`` is done: it is the last measured one of the series it has."""
        self.prev = [i if s.status[i] == PointStatus.OK else p
                     for s, p in zip(self.series, self.prev, strict=True)]


def _last_ok(s: SeriesData, before: int) -> int | None:
    for j in range(before - 1, -1, -1):
        if s.status[j] == PointStatus.OK:
            return j
    return None


def _disturbed_note(share: float | None) -> str:
    """Said only where the machine interfered: most rows stay empty."""
    return f"{100 * share:.0f}% of samples disturbed, left out" if share else ""


def _row(s: SeriesData, head: Markup, i: int, prev: int | None, change,
         before_text: str | None) -> tuple[tuple, str, str]:
    """One benchmark: its sort key, its HTML and this commit's value as escaped text
    (``before_text`` is the previous one's when the caller has it)."""
    now = s.median[i]
    before = s.median[prev] if prev is not None else None
    ratio = ratio_of(before, now) if now is not None and before is not None else None
    if change is not None:
        verdict = change.verdict
        note = f"{verdict} detected here (p = {change.p_value:.2g})"
        css, order = ("changed bad" if change.regression else "changed good"), 0
        if change.cause == Cause.ENVIRONMENT:
            note += f": machine shift E{change.event} (most benchmarks moved together)"
            css = "changed machine"
    elif s.status[i] not in (PointStatus.OK, PointStatus.MISSING):
        note = s.status[i].value + (f": {escape(s.reasons[i])}" if s.reasons[i] else "")
        css, order = "bad", 1
    else:
        note, css, order = _disturbed_note(s.disturbed[i] if s.disturbed else None), "", 2
    if before_text is None:
        before_text = _value_html(before, s.unit) if before is not None else ""
    now_text = _value_html(now, s.unit) if now is not None else s.status[i].value
    ratio_text = format_ratio(ratio) if ratio is not None else ""
    html = ROW.format(css, head, before_text, now_text, ratio_text, note)
    return (order, -abs(math.log(ratio)) if ratio and ratio > 0 else 0), html, now_text


def _value_html(value: float, unit: str) -> str:
    """A value as HTML: the unit is the suite's own text (a ``track_`` benchmark's
    ``unit`` attribute), so it is escaped like any other data."""
    return str(escape(format_value(value, unit)))
