"""`histbench publish`: the static history site, rendered with Jinja2 and matplotlib.

Incremental by construction: every page has a digest of exactly what it shows (plus the
templates' and histbench's version); a page whose digest is in the manifest and whose file
exists is not rendered again. After one new commit that means the new commit's page, its
parent's (for the "next" link), the benchmark pages and the summaries, not the thousand
other commit pages. Benchmark plots, the expensive part, are drawn in parallel processes.
Everything is relative links and local files: the site works from file:// and offline.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from histbench import __version__
from histbench.analysis.bisect_hints import bisect_hint, span_of
from histbench.analysis.series import machines as result_machines
from histbench.core import parallel as processes
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.files import write_atomic
from histbench.core.formatting import format_value, unit_scale
from histbench.core.parallel import available_cpus, fork_map
from histbench.site.commit_rows import CommitRows, page_slug
from histbench.site.model import (
    ResultCache,
    SeriesData,
    SiteData,
    StepCache,
    load_site_data,
    read_cache,
    set_steps,
    write_cache,
)
from histbench.site.sparklines import sparkline
from histbench.store import machine
from histbench.store.results import CommitInfo, load_benchmark_info, params_text, write_json_atomic

MANIFEST = ".histbench-manifest.json"
CACHE_DIR = ".histbench-cache"
CHUNK = 8  # parameter sets per plot
COMMITS_PER_TASK = 25  # commit pages a worker renders per task
TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
# The code that turns data into a page's HTML: a change to it makes every page stale.
_SITE = Path(__file__).parent
PAGE_CODE = tuple(_SITE / name for name in
                  ("publisher.py", "plots.py", "commit_rows.py", "sparklines.py")) + (
    _SITE.parent / "core" / "formatting.py",)


@dataclass
class PublishReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else ""


def _isodate(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts or 0))


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("histbench.site", "templates"),
                      autoescape=select_autoescape(["html", "atom", "xml"],
                                                   default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["date"] = _date
    env.filters["isodate"] = _isodate
    return env


def _templates_digest() -> str:
    h = hashlib.sha256(__version__.encode())
    for folder in (TEMPLATES, STATIC):
        for path in sorted(folder.iterdir()):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    for module in PAGE_CODE:
        h.update(module.read_bytes())
    return h.hexdigest()[:16]


def _pct(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return ""
    return f"{(ratio - 1) * 100:+.1f}%"


@dataclass
class TaskOutcome:
    """What a page task did: its pages' manifest entries, the pages written, the number
    found fresh, the axis layers drawn and the steps looked up (site, series, cache key,
    steps)."""

    manifest: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    axes: dict[tuple, str] = field(default_factory=dict)
    steps: list[tuple[int, tuple, str, list]] = field(default_factory=list)


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


class Publisher:
    def __init__(self, config: Config, html_dir: Path | None = None, *, alpha: float = 0.05,
                 jobs: int | None = None):
        self.config = config
        self.html_dir = Path(html_dir or config.html_dir)
        self.alpha = alpha
        self.position: dict[str, int] = {}  # first-parent hash -> index (publish sets it)
        self.jobs = jobs if jobs is not None else available_cpus()
        self.jinja = _environment()
        self.digest_base = _templates_digest()
        self.manifest: dict[str, str] = {}
        self.new_manifest: dict[str, str] = {}
        self.report = PublishReport()
        self.sites: list[SiteData] = []
        self.info: dict[str, dict] = {}
        self.timelines: dict[int, Any] = {}  # per site, built where plots are drawn
        self.commit_digests: dict[int, str] = {}
        self.commit_rows: list[CommitRows] = []
        self.axes: dict[tuple, str] = {}  # axis layers of earlier publishes
        self.new_axes: dict[tuple, str] = {}
        self.axes_given = False
        self.found_steps: list[tuple[int, tuple, str, list]] = []
        self.step_cache: StepCache | None = None

    # -- writing ----------------------------------------------------------------------------

    def _load_manifest(self) -> None:
        try:
            self.manifest = json.loads((self.html_dir / MANIFEST).read_text())
        except (OSError, ValueError):
            self.manifest = {}

    def _fresh(self, rel: str, digest: str) -> bool:
        """Record the page's digest; True when the page on disk already matches it."""
        digest = hashlib.sha256((self.digest_base + digest).encode()).hexdigest()[:24]
        self.new_manifest[rel] = digest
        if self.manifest.get(rel) == digest and (self.html_dir / rel).exists():
            self.report.skipped += 1
            return True
        return False

    def _always(self, rel: str) -> None:
        """A summary page, rendered on every publish (one page: cheaper to render than to
        prove unchanged); listed in the manifest so that it is never taken for stale."""
        self.new_manifest[rel] = "rendered on every publish"

    def _write(self, rel: str, text: str) -> None:
        write_atomic(self.html_dir / rel, text)
        self.report.written.append(rel)

    def _render(self, rel: str, template: str, **context: Any) -> None:
        depth = rel.count("/")
        context.setdefault("root", "../" * depth)
        context.setdefault("project", self.config.project)
        context.setdefault("version", __version__)
        self._write(rel, self.jinja.get_template(template).render(**context))

    # -- the whole site ---------------------------------------------------------------------

    def publish(self, order: list[str] | None = None) -> PublishReport:
        start = time.perf_counter()
        self.position = {h: i for i, h in enumerate(order or [])}
        results_dir = self.config.results_dir
        names = result_machines(results_dir)
        if not names:
            raise HistbenchError(f"{results_dir}: no results to publish (run `histbench run` "
                                 "or `histbench import-asv` first)")
        self.html_dir.mkdir(parents=True, exist_ok=True)
        self._load_manifest()
        cache = ResultCache(self.html_dir / CACHE_DIR / "results.pickle")
        steps = StepCache(self.html_dir / CACHE_DIR / "steps.pickle")
        sites: list[SiteData] = []
        for name in names:  # steps: detected page by page, in the workers
            sites += load_site_data(results_dir, name, cache, order=order, jobs=self.jobs,
                                    meanwhile=_import_drawing)
        cache.prune({str(p) for p in cache.entries if Path(p).exists()})
        self.sites = sites
        self.info = load_benchmark_info(results_dir)
        self._static()
        axes = AxisLayerCache(self.html_dir / CACHE_DIR / "axes.pickle", self.digest_base)
        self.axes = axes.entries

        def summaries_and_caches() -> None:
            for site in sites:
                self._summaries(site, sites)
            self._machines(sites)
            cache.save()

        self._pages(steps, summaries_and_caches)
        axes.add(self.new_axes)
        steps.save()
        axes.save()
        write_json_atomic(self.html_dir / MANIFEST, dict(sorted(self.new_manifest.items())))
        self._remove_stale()
        self.report.seconds = time.perf_counter() - start
        return self.report

    # -- pages rendered by worker processes ---------------------------------------------------

    def _pages(self, steps: StepCache, meanwhile: Callable[[], object]) -> None:
        """Benchmark and commit pages, the bulk of a site, split into tasks that forked
        worker processes run (each with the loaded site at hand): a task checks its pages'
        digests, renders the stale ones and reports what it did. Steps are detected in the
        benchmark tasks, beside the drawing; commit pages, which show every benchmark's
        steps, come after, while this process runs ``meanwhile`` (the summary pages)."""
        self.step_cache = steps
        self.members = [site.benchmarks() for site in self.sites]
        # Benchmarks whose plots likely share a y axis layer go to one task, so that one
        # worker draws that layer once; the largest tasks first, so workers end together.
        groups: dict[tuple, list[str]] = {}
        for k, members in enumerate(self.members):
            for name, series in members.items():
                groups.setdefault((k, _axis_group(series[:CHUNK])), []).append(name)
        tasks = [("_benchmark_pages", key[0], names) for key, names in groups.items()]
        tasks.sort(key=lambda t: -sum(len(self.members[t[1]][n]) for n in t[2]))
        self._run_tasks(tasks)
        self.commit_rows = [CommitRows(site) for site in self.sites]
        self._run_tasks([("_commit_pages", k, lo, min(lo + COMMITS_PER_TASK, len(site.commits)))
                         for k, site in enumerate(self.sites)
                         for lo in range(0, len(site.commits), COMMITS_PER_TASK)], meanwhile)

    def _run_tasks(self, tasks: list[tuple],
                   meanwhile: Callable[[], object] | None = None) -> None:
        outcomes = fork_map(_run_task, tasks, self.jobs, shared=self, meanwhile=meanwhile)
        for outcome in outcomes:
            self.new_manifest.update(outcome.manifest)
            self.report.written += outcome.written
            self.report.skipped += outcome.skipped
            self.new_axes.update(outcome.axes)
            for k, series_key, key, found in outcome.steps:
                self.step_cache.record(key, found)
                set_steps(self.sites[k].series[series_key], found, self.sites[k].commits)

    def run_task(self, task: tuple) -> TaskOutcome:
        """Run one task and return its bookkeeping, so that a worker's reaches the parent."""
        saved = self.new_manifest, self.report, self.new_axes, self.found_steps
        outcome = TaskOutcome()
        self.new_manifest, self.new_axes = outcome.manifest, outcome.axes
        self.report, self.found_steps = PublishReport(), outcome.steps
        try:
            getattr(self, task[0])(*task[1:])
            outcome.written, outcome.skipped = self.report.written, self.report.skipped
            return outcome
        finally:
            self.new_manifest, self.report, self.new_axes, self.found_steps = saved

    def _static(self) -> None:
        for path in sorted(STATIC.iterdir()):
            rel = f"static/{path.name}"
            if not self._fresh(rel, hashlib.sha256(path.read_bytes()).hexdigest()):
                self.html_dir.joinpath("static").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, self.html_dir / rel)
                self.report.written.append(rel)

    def _remove_stale(self) -> None:
        """Pages of benchmarks or commits that no longer exist go, so no link dangles."""
        for rel in set(self.manifest) - set(self.new_manifest):
            (self.html_dir / rel).unlink(missing_ok=True)

    def _common(self, site: SiteData, sites: list[SiteData]) -> dict[str, Any]:
        open_count = sum(1 for s in site.series.values() for c in s.changes
                         if c.regression and c.open)
        return {"site": site, "sites": sites, "open_count": open_count}

    def _summaries(self, site: SiteData, sites: list[SiteData]) -> None:
        common = self._common(site, sites)
        rows = self._index_rows(site)
        self._index(site, common, rows, f"{site.slug}/index.html")
        if site is sites[0]:
            self._index(site, common, rows, "index.html", base=f"{site.slug}/")
        self._regressions(site, common)

    def _stable(self, site: SiteData) -> dict[str, Any]:
        # The open-regression badge lives on the summary pages only: in the header of every
        # page it would make one new regression re-render a thousand commit pages.
        return {"site": site, "sites": self.sites, "open_count": None}

    # -- index ------------------------------------------------------------------------------

    def _index_rows(self, site: SiteData) -> list[tuple[str, list[dict]]]:
        groups = []
        for group, members in site.groups().items():
            rows = []
            for s in members:
                rows.append(self._index_row(s, group))
            groups.append((group, rows))
        return groups

    def _index_row(self, s: SeriesData, group: str) -> dict[str, Any]:
        last = s.latest()
        prev = next((i for i in range(last - 1, -1, -1) if s.status[i] == "ok"), None) \
            if last is not None else None
        ok = [v for v in s.median if v is not None]
        best = (max(ok) if s.higher_is_better else min(ok)) if ok else None
        latest = s.median[last] if last is not None else None

        def change(ref: float | None) -> tuple[str, str]:
            if latest is None or not ref:
                return "", ""
            ratio = latest / ref
            worse = ratio < 1 if s.higher_is_better else ratio > 1
            cls = "worse" if worse and abs(ratio - 1) > 0.02 else (
                "better" if not worse and abs(ratio - 1) > 0.02 else "")
            return _pct(ratio), cls

        prev_text, prev_class = change(s.median[prev] if prev is not None else None)
        best_text, best_class = change(best)
        failing = s.status[-1] in ("failed",) if s.status else False
        return {
            "series": s, "page": page_slug(s.name),
            "short": s.name[len(group) + 1:] if group else s.name,
            "params": params_text(s.params), "spark": sparkline(s.median),
            "latest": (f"{format_value(latest, s.unit)} [{format_value(s.ci_low[last], s.unit)}"
                       f", {format_value(s.ci_high[last], s.unit)}]") if latest is not None
            else s.status[-1] if s.status else "",
            "prev": prev_text, "prev_class": prev_class, "best": best_text,
            "best_class": best_class,
            "open": sum(1 for c in s.changes if c.regression and c.open),
            "failed": s.reasons[-1] if failing else "",
        }

    def _index(self, site: SiteData, common: dict, rows: list, rel: str,
               base: str = "") -> None:
        """``base``: the site's folder seen from ``rel`` ("" inside it; the slug for the
        copy at the top of the html folder)."""
        self._always(rel)
        self._render(rel, "index.html", groups=rows, latest=site.commits[-1], base=base,
                     **common)

    # -- benchmark pages --------------------------------------------------------------------

    def _commit_link(self, commit: CommitInfo) -> str:
        if self.config.show_commit_url:
            return self.config.show_commit_url + commit.hash
        return f"../c/{commit.hash}.html"

    def _benchmark_pages(self, k: int, names: list[str]) -> None:
        for name in names:
            self._benchmark_page(k, name)

    def _benchmark_page(self, k: int, name: str) -> None:
        site, members = self.sites[k], self.members[k][name]
        for s in members:
            key, found = self.step_cache.lookup(s, self.alpha,
                                                self.config.threshold_for(s.name))
            set_steps(s, found, site.commits)
            self.found_steps.append((k, s.key, key, found))
        meta = self.info.get(name, {})
        rel = f"{site.slug}/b/{page_slug(name)}"
        digest = repr((self._commits_digest(k), self.config.show_commit_url,
                       [(s.digest(), [st.to_dict() for st in s.steps]) for s in members],
                       [span_of(c, self.position) for s in members for c in s.changes],
                       len(self.sites), json.dumps(meta, sort_keys=True, default=str)))
        if self._fresh(rel, digest):
            return
        from histbench.site import plots  # matplotlib: only when drawing

        if not self.axes_given:
            plots.use_axis_layers(self.axes)
            self.axes_given = True
        chunks = []
        for i in range(0, len(members), CHUNK):
            chunk = members[i:i + CHUNK]
            order_svg, date_svg = plots.history_plots(chunk, self._timeline(k),
                                                      id_prefix=f"c{i}")
            title = (f"{params_text(chunk[0].params)} … {params_text(chunk[-1].params)}"
                     if len(chunk) > 1 else params_text(chunk[0].params) or name)
            chunks.append({"title": title, "order_svg": order_svg, "date_svg": date_svg,
                           "legend": plots.legend(chunk) if len(chunk) > 1 else []})
        self.new_axes.update(plots.drawn_axis_layers())
        self._render(rel, "benchmark.html", name=name, chunks=chunks,
                     **self._benchmark_context(members, meta, site.commits, site.machine),
                     **self._stable(site))

    def _timeline(self, k: int):
        from histbench.site.plots import Timeline

        if k not in self.timelines:
            self.timelines[k] = Timeline.build(self.sites[k].commits, self._commit_link)
        return self.timelines[k]

    def _commits_digest(self, k: int) -> str:
        if k not in self.commit_digests:
            self.commit_digests[k] = hashlib.sha256(repr([
                (c.hash, c.subject, c.date) for c in self.sites[k].commits]).encode()).hexdigest()
        return self.commit_digests[k]

    def _benchmark_context(self, members: list[SeriesData], meta: dict,
                           commits: list[CommitInfo], machine_name: str) -> dict[str, Any]:
        first = members[0]
        changes = []
        for s in members:
            for c in s.changes:
                changes.append({"regression": c.regression, "params": params_text(s.params),
                                "bisect": bisect_hint(c, machine_name, self.position),
                                "last_good": c.last_good, "first_bad": c.first_bad,
                                "before": format_value(c.before, s.unit),
                                "after": format_value(c.after, s.unit), "ratio": c.ratio,
                                "p_value": c.p_value, "open": c.open,
                                "subject": c.first_bad.subject})
        changes.sort(key=lambda c: -c["first_bad"].date)
        failures = []
        for s in members:
            for i, status in enumerate(s.status):
                if status in ("failed", "skipped", "build-failed"):
                    c = commits[i]
                    failures.append({"hash": c.hash, "short": c.short, "status": status,
                                     "reason": s.reasons[i], "params": params_text(s.params)})
        attributes = [(k, json.dumps(v) if not isinstance(v, str) else v)
                      for k, v in sorted(meta.items())
                      if k not in ("code", "params", "param_names") and v not in (None, "")]
        if first.params:
            attributes.insert(0, ("params", "; ".join(
                f"{k}: {', '.join(v)}" for k, v in zip(meta.get("param_names", []),
                                                       meta.get("params", []), strict=False))))
        return {"kind": first.kind, "unit": first.unit, "bench_version": first.version,
                "higher_is_better": first.higher_is_better, "changes": changes,
                "failures": failures[-50:], "attributes": attributes,
                "code": meta.get("code", "")}

    # -- commit pages -----------------------------------------------------------------------

    def _commit_pages(self, k: int, lo: int, hi: int) -> None:
        site, table = self.sites[k], self.commit_rows[k]
        common = self._stable(site)
        table.start(lo)
        for i in range(lo, hi):
            commit = site.commits[i]
            parent = site.commits[i - 1] if i else None
            child = site.commits[i + 1] if i + 1 < len(site.commits) else None
            rel = f"{site.slug}/c/{commit.hash}.html"
            digest = repr((commit, parent and parent.hash, child and child.hash,
                           table.fingerprint(i), site.builds.get(commit.hash),
                           self.config.show_commit_url, len(common["sites"])))
            if not self._fresh(rel, digest):
                build = site.builds.get(commit.hash, {})
                self._render(rel, "commit.html", commit=commit, parent=parent, child=child,
                             rows=table.rows(i), build_failed=build.get("status") == "failed",
                             build_reason=build.get("reason", ""),
                             commit_url=(self.config.show_commit_url + commit.hash
                                         if self.config.show_commit_url else ""), **common)
            table.advance(i)

    # -- regressions and feed -----------------------------------------------------------------

    def _regressions(self, site: SiteData, common: dict) -> None:
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
        self._always(rel)
        self._render(rel, "regressions.html", rows=rows, fixed=fixed, **common)
        feed = f"{site.slug}/regressions.atom"
        self._always(feed)
        updated = _isodate(max((r["first_bad"].date for r in rows), default=0))
        self._render(feed, "feed.atom", rows=rows, updated=updated, **common)

    # -- machines ---------------------------------------------------------------------------

    def _machines(self, sites: list[SiteData]) -> None:
        entries = []
        for path in sorted(self.config.results_dir.glob("*/machine.json")):
            try:
                record = machine.load(path)
            except HistbenchError as exc:
                entries.append({"record": _Named(path.parent.name), "fields": [
                    ("error", str(exc))], "warnings": [], "sites": []})
                continue
            fields = [(k, v) for k, v in record.to_dict().items() if v not in (None, "")]
            entries.append({"record": record, "fields": fields,
                            "warnings": record.noise_warnings(),
                            "sites": [s for s in sites if s.machine == record.name]})
        self._always("machines.html")
        self._render("machines.html", "machines.html", machines=entries, site=None,
                     sites=sites)


def _import_drawing() -> None:
    """What page workers need (matplotlib, scipy's special functions), imported once here
    so that every worker forked later has it instead of importing it again."""
    importlib.import_module("histbench.site.plots")
    importlib.import_module("scipy.special")


def _axis_group(series: list[SeriesData]) -> tuple[str, int]:
    """The unit and quarter-decade of the highest value: plots alike in these most often
    get the same y axis (the exact limits come from matplotlib's locator, when drawing)."""
    top = max((abs(v) for s in series for v in s.ci_high if v is not None), default=1.0)
    factor, unit = unit_scale(series[0].unit, top)
    return unit, math.floor(4 * math.log10(top / factor)) if top > 0 else 0


@dataclass
class _Named:
    name: str


def _run_task(task: tuple) -> TaskOutcome:
    return processes.shared().run_task(task)
