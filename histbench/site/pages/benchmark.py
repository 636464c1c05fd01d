"""Benchmark pages: a benchmark's history plotted (by commit and by date), its detected
changes with bisect hints, its failures and its code. The steps and changes are the
site's events' (site/events.py), found before any page is written."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from histbench.analysis.bisect_hints import bisect_hint, span_of
from histbench.analysis.changes import Cause
from histbench.analysis.series import PointStatus
from histbench.core.config import Config
from histbench.core.formatting import format_value
from histbench.core.modes import benchmark_of
from histbench.site.cache_files import read_cache, write_cache
from histbench.site.commit_rows import page_slug
from histbench.site.model import SeriesData, SiteData
from histbench.site.page_writer import PageWriter
from histbench.site.pages.context import stable_context
from histbench.store.results import CommitInfo, params_text

CHUNK = 8  # parameter sets per plot
FAILED = (PointStatus.FAILED, PointStatus.SKIPPED, PointStatus.BUILD_FAILED)  # listed


class AxisLayerCache:
    """Axis layers of earlier publishes, valid while histbench's plotting code and
    matplotlib are the same."""

    def __init__(self, path: Path, digest: str):
        self.path = path
        self.version = f"{digest}:{importlib.metadata.version('matplotlib')}"
        self.entries: dict[tuple, str] = read_cache(path, self.version)
        self.dirty = False

    def add(self, entries: dict[tuple, str]) -> None:
        if set(entries) - set(self.entries):
            self.entries.update(entries)
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            write_cache(self.path, self.version, self.entries)


@dataclass(frozen=True)
class BenchmarkSettings:
    """What the publish was asked for that benchmark pages depend on."""

    config: Config
    alpha: float
    position: dict[str, int]  # first-parent hash -> index in history
    info: dict[str, dict]  # benchmarks.json: code, parameters, attributes


class BenchmarkPages:
    """Renders the benchmark pages of the sites, a group of benchmarks at a time. Keeps
    per process what every page of a site shares: its timeline and its commits' digest."""

    def __init__(self, sites: list[SiteData], settings: BenchmarkSettings,
                 axis_layers: dict[tuple, str]):
        self.sites = sites
        self.members = [site.benchmarks() for site in sites]
        self.settings = settings
        self.axis_layers = axis_layers  # drawn by earlier publishes
        self.axis_layers_given = False
        self.timelines: dict[int, Any] = {}
        self.commit_digests: dict[int, str] = {}

    def write(self, writer: PageWriter, k: int, names: tuple[str, ...]) -> dict[tuple, str]:
        """The pages of benchmarks ``names`` of site ``k``; returns the axis layers they
        drew (for the cache)."""
        axes: dict[tuple, str] = {}
        for name in names:
            self._write_page(writer, k, name, axes)
        return axes

    def size(self, k: int, names: tuple[str, ...]) -> int:
        """How many series the pages of ``names`` plot: the work of drawing them."""
        return sum(len(self.members[k][n]) for n in names)

    def _write_page(self, writer: PageWriter, k: int, name: str,
                    axes: dict[tuple, str]) -> None:
        site, members = self.sites[k], self.members[k][name]
        meta = self.settings.info.get(benchmark_of(name)[0], {})  # counts: their benchmark's
        rel = f"{site.slug}/b/{page_slug(name)}"
        runner = runner_context(site, members)
        if writer.fresh(rel, self._digest(k, members, meta, runner)):
            return
        chunks, x_range = self._draw(k, name, members, axes)
        writer.render(rel, "benchmark.html", name=name, chunks=chunks, x_range=x_range,
                      **benchmark_context(members, meta, site.commits, site.machine,
                                          self.settings.position),
                      **runner, **stable_context(site, self.sites))

    def _digest(self, k: int, members: list[SeriesData], meta: dict,
                runner: dict[str, Any]) -> str:
        return repr((self._commits_digest(k), self.settings.config.show_commit_url,
                     _bands(self.sites[k]),
                     [(s.digest(), [st.to_dict() for st in s.steps]) for s in members],
                     [(span_of(c, self.settings.position), c.cause.value, c.event)
                      for s in members for c in s.changes],
                     len(self.sites), json.dumps(meta, sort_keys=True, default=str), runner))

    def _draw(self, k: int, name: str, members: list[SeriesData], axes: dict[tuple, str]
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The plots of each chunk of parameter sets, and the x range they cover (None:
        the whole history). The x axis covers the commits where any of the benchmark's
        series has a point; where that is not the whole history, each chunk also gets a
        whole-history variant (``whole``), which the page's control shows instead."""
        from histbench.site import plots  # matplotlib: only when drawing

        if not self.axis_layers_given:
            plots.use_axis_layers(self.axis_layers)
            self.axis_layers_given = True
        timeline, commits = self._timeline(k), self.sites[k].commits
        bands = _bands(self.sites[k])
        span = plots.data_span(members)
        if span is not None and timeline.xlim(False, span) == timeline.xlim(False):
            span = None  # the data covers the whole history: one variant
        x_range = None if span is None else {
            "first": commits[span[0]], "last": commits[span[1]],
            "count": span[1] - span[0] + 1, "total": len(commits)}
        chunks = []
        for i in range(0, len(members), CHUNK):
            chunk = members[i:i + CHUNK]
            order_svg, date_svg = plots.history_plots(chunk, timeline, id_prefix=f"c{i}",
                                                      span=span, bands=bands)
            whole = plots.history_plots(chunk, timeline, id_prefix=f"c{i}w", bands=bands) \
                if span is not None else None
            title = (f"{params_text(chunk[0].params)} … {params_text(chunk[-1].params)}"
                     if len(chunk) > 1 else params_text(chunk[0].params) or name)
            chunks.append({"title": title, "order_svg": order_svg, "date_svg": date_svg,
                           "bands": timeline.shows_bands(bands, span),
                           "whole": None if whole is None else {
                               "order_svg": whole[0], "date_svg": whole[1],
                               "bands": timeline.shows_bands(bands)},
                           "legend": plots.legend(chunk) if len(chunk) > 1 else []})
        axes.update(plots.drawn_axis_layers())
        return chunks, x_range

    def _timeline(self, k: int):
        from histbench.site.plots import Timeline

        if k not in self.timelines:
            self.timelines[k] = Timeline.build(self.sites[k].commits, self._commit_link)
        return self.timelines[k]

    def _commit_link(self, commit: CommitInfo) -> str:
        url = self.settings.config.show_commit_url
        return url + commit.hash if url else f"../c/{commit.hash}.html"

    def _commits_digest(self, k: int) -> str:
        if k not in self.commit_digests:
            self.commit_digests[k] = hashlib.sha256(repr([
                (c.hash, c.subject, c.date) for c in self.sites[k].commits]).encode()).hexdigest()
        return self.commit_digests[k]


def _bands(site: SiteData) -> list[tuple[int, int]]:
    """The site's environment bands as plain tuples: drawn on every plot, and part of
    every benchmark page's digest (new bands redraw the pages)."""
    return [(int(first), int(last)) for first, last in site.environment_bands]


def benchmark_context(members: list[SeriesData], meta: dict, commits: list[CommitInfo],
                      machine_name: str, position: dict[str, int]) -> dict[str, Any]:
    """What a benchmark page shows besides its plots."""
    first = members[0]
    return {"kind": first.kind, "unit": first.unit, "bench_version": first.version,
            "higher_is_better": first.higher_is_better,
            "changes": _changes(members, machine_name, position),
            "failures": _failures(members, commits)[-50:], "attributes": _attributes(first, meta),
            "code": meta.get("code", "")}


def runner_context(site: SiteData, members: list[SeriesData]) -> dict[str, Any]:
    """Where runners differ (docs/ci.md): the runner offsets of sharded runs, as measured
    on their overlap commit, and the points measured on other hardware than the machine
    record's."""
    offsets = [{"params": params_text(s.params), "shard": label.text,
                "anchor": label.anchor, "ratio": offset.ratio, "p_value": offset.p_value,
                "applied": offset.applied}
               for s in members for label, offset in
               (site.offsets.of_series(s.key) if site.offsets else [])]
    hardware = [{"hash": c.hash, "short": c.short, "difference": site.hardware[c.hash]}
                for i, c in enumerate(site.commits) if c.hash in site.hardware
                and any(s.status[i] == PointStatus.OK for s in members)]
    return {"shard_offsets": offsets, "other_hardware": hardware}


def _changes(members: list[SeriesData], machine_name: str,
             position: dict[str, int]) -> list[dict[str, Any]]:
    changes = []
    for s in members:
        for c in s.changes:
            changes.append({"regression": c.regression, "verdict": c.verdict.value,
                            "params": params_text(s.params),
                            "bisect": bisect_hint(c, machine_name, position),
                            "last_good": c.last_good, "first_bad": c.first_bad,
                            "before": format_value(c.before, s.unit),
                            "after": format_value(c.after, s.unit), "ratio": c.ratio,
                            "p_value": c.p_value, "open": c.open,
                            "machine": c.cause == Cause.ENVIRONMENT, "event": c.event,
                            "code_ratio": c.code_ratio, "subject": c.first_bad.subject})
    changes.sort(key=lambda c: -c["first_bad"].date)
    return changes


def _failures(members: list[SeriesData], commits: list[CommitInfo]) -> list[dict[str, Any]]:
    failures = []
    for s in members:
        for i, status in enumerate(s.status):
            if status in FAILED:
                c = commits[i]
                failures.append({"hash": c.hash, "short": c.short, "status": status.value,
                                 "reason": s.reasons[i], "params": params_text(s.params)})
    return failures


def _attributes(first: SeriesData, meta: dict) -> list[tuple[str, str]]:
    """The benchmark's attributes from benchmarks.json, its parameters first."""
    attributes = [(k, json.dumps(v) if not isinstance(v, str) else v)
                  for k, v in sorted(meta.items())
                  if k not in ("code", "params", "param_names") and v not in (None, "")]
    if first.params:
        attributes.insert(0, ("params", "; ".join(
            f"{k}: {', '.join(v)}" for k, v in zip(meta.get("param_names", []),
                                                   meta.get("params", []), strict=False))))
    return attributes
