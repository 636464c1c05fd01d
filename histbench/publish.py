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
import json
import math
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from histbench import __version__, machine
from histbench.config import Config
from histbench.errors import HistbenchError
from histbench.history import machines as result_machines
from histbench.plots import history_svg, sparkline
from histbench.results import CommitInfo, load_benchmark_info, write_json_atomic
from histbench.site_model import ResultCache, SeriesData, SiteData, StepCache, load_site_data
from histbench.text import format_value

MANIFEST = ".histbench-manifest.json"
CACHE_DIR = ".histbench-cache"
CHUNK = 8  # parameter sets per plot
TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


@dataclass
class PublishReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0


def page_slug(name: str) -> str:
    """A file name for a benchmark page; long names get a hash so they stay unique."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if len(slug) > 120:
        slug = slug[:100] + "-" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return slug + ".html"


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else ""


def _isodate(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts or 0))


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("histbench", "templates"),
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
    h.update(Path(__file__).read_bytes())
    h.update(Path(__file__).with_name("plots.py").read_bytes())
    return h.hexdigest()[:16]


def _params_text(params: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _pct(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return ""
    return f"{(ratio - 1) * 100:+.1f}%"


class Publisher:
    def __init__(self, config: Config, html_dir: Path | None = None, *, alpha: float = 0.05,
                 jobs: int | None = None):
        self.config = config
        self.html_dir = Path(html_dir or config.html_dir)
        self.alpha = alpha
        self.jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
        self.jinja = _environment()
        self.digest_base = _templates_digest()
        self.manifest: dict[str, str] = {}
        self.new_manifest: dict[str, str] = {}
        self.report = PublishReport()

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

    def _write(self, rel: str, text: str) -> None:
        path = self.html_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
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
        for name in names:
            sites += load_site_data(results_dir, name, cache, steps, order=order,
                                    alpha=self.alpha, threshold=self.config.threshold_for)
        cache.prune({str(p) for p in cache.entries if Path(p).exists()})
        info = load_benchmark_info(results_dir)
        self._static()
        for site in sites:
            self._site(site, sites, info)
        self._machines(sites)
        cache.save()
        steps.save()
        write_json_atomic(self.html_dir / MANIFEST, self.new_manifest)
        self._remove_stale()
        self.report.seconds = time.perf_counter() - start
        return self.report

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

    def _site(self, site: SiteData, sites: list[SiteData], info: dict[str, dict]) -> None:
        common = self._common(site, sites)
        # The open-regression badge lives on the summary pages only: in the header of every
        # page it would make one new regression re-render a thousand commit pages.
        stable = dict(common, open_count=None)
        self._benchmark_pages(site, stable, info)
        self._commit_pages(site, stable)
        rows = self._index_rows(site)
        self._index(site, common, rows, f"{site.slug}/index.html")
        if site is sites[0]:
            self._index(site, common, rows, "index.html", base=f"{site.slug}/")
        self._regressions(site, common)

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
            "params": _params_text(s.params), "spark": sparkline(s.median),
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
        # The index is one page; rendering it always is cheaper than proving it unchanged.
        self._fresh(rel, str(time.time()))
        self._render(rel, "index.html", groups=rows, latest=site.commits[-1], base=base,
                     **common)

    # -- benchmark pages --------------------------------------------------------------------

    def _commit_link(self, commit: CommitInfo) -> str:
        if self.config.show_commit_url:
            return self.config.show_commit_url + commit.hash
        return f"../c/{commit.hash}.html"

    def _benchmark_pages(self, site: SiteData, common: dict, info: dict[str, dict]) -> None:
        commits_digest = hashlib.sha256(repr([(c.hash, c.subject, c.date)
                                              for c in site.commits]).encode()).hexdigest()
        todo = []
        for name, members in site.benchmarks().items():
            rel = f"{site.slug}/b/{page_slug(name)}"
            digest = repr((commits_digest, self.config.show_commit_url,
                           [(s.digest(), [st.to_dict() for st in s.steps]) for s in members],
                           len(common["sites"]),
                           json.dumps(info.get(name, {}), sort_keys=True, default=str)))
            if not self._fresh(rel, digest):
                todo.append((rel, name, members))
        chunks_of = {rel: [members[i:i + CHUNK] for i in range(0, len(members), CHUNK)]
                     for rel, _, members in todo}
        jobs = [(chunk, site.commits, self.config.show_commit_url)
                for rel, _, _ in todo for chunk in chunks_of[rel]]
        svgs = self._draw(jobs)
        k = 0
        for rel, name, members in todo:
            chunks = []
            for chunk in chunks_of[rel]:
                order_svg, date_svg = svgs[k]
                k += 1
                title = (f"{_params_text(chunk[0].params)} … {_params_text(chunk[-1].params)}"
                         if len(chunk) > 1 else _params_text(chunk[0].params) or name)
                chunks.append({"title": title, "order_svg": order_svg, "date_svg": date_svg})
            self._render(rel, "benchmark.html", name=name, chunks=chunks,
                         **self._benchmark_context(members, info.get(name, {}), site.commits),
                         **common)

    def _draw(self, jobs: list) -> list[tuple[str, str]]:
        if self.jobs > 1 and len(jobs) > 4:
            with ProcessPoolExecutor(self.jobs) as pool:
                return list(pool.map(_draw_chunk, jobs, chunksize=max(1, len(jobs) // 16)))
        return [_draw_chunk(job) for job in jobs]

    def _benchmark_context(self, members: list[SeriesData], meta: dict,
                           commits: list[CommitInfo]) -> dict[str, Any]:
        first = members[0]
        changes = []
        for s in members:
            for c in s.changes:
                changes.append({"regression": c.regression, "params": _params_text(s.params),
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
                                     "reason": s.reasons[i], "params": _params_text(s.params)})
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

    def _commit_pages(self, site: SiteData, common: dict) -> None:
        series = sorted(site.series.values(), key=lambda s: s.label)
        step_at: dict[tuple, dict[int, Any]] = {
            s.key: {c.first_bad.hash: c for c in s.changes} for s in series}
        for i, commit in enumerate(site.commits):
            parent = site.commits[i - 1] if i else None
            child = site.commits[i + 1] if i + 1 < len(site.commits) else None
            rel = f"{site.slug}/c/{commit.hash}.html"
            cells = [(s.status[i], s.median[i], s.median[i - 1] if i else None,
                      commit.hash in step_at[s.key]) for s in series]
            digest = repr((commit, parent and parent.hash, child and child.hash, cells,
                           site.builds.get(commit.hash), self.config.show_commit_url,
                           len(common["sites"])))
            if self._fresh(rel, digest):
                continue
            rows = [self._commit_row(s, i, step_at[s.key].get(commit.hash)) for s in series]
            rows.sort(key=lambda r: r["order"])
            build = site.builds.get(commit.hash, {})
            self._render(rel, "commit.html", commit=commit, parent=parent, child=child,
                         rows=rows, build_failed=build.get("status") == "failed",
                         build_reason=build.get("reason", ""),
                         commit_url=(self.config.show_commit_url + commit.hash
                                     if self.config.show_commit_url else ""), **common)

    def _commit_row(self, s: SeriesData, i: int, change) -> dict[str, Any]:
        now, before = s.median[i], None
        for j in range(i - 1, -1, -1):
            if s.status[j] == "ok":
                before = s.median[j]
                break
        ratio = now / before if now is not None and before else None
        if change is not None:
            note = ("regression" if change.regression else "improvement") + \
                f" detected here (p = {change.p_value:.2g})"
            css, order = ("changed bad" if change.regression else "changed good"), 0
        elif s.status[i] not in ("ok", "missing"):
            note, css, order = s.status[i] + (f": {s.reasons[i]}" if s.reasons[i] else ""), \
                "bad", 1
        else:
            note, css, order = "", "", 2
        return {"name": s.name, "page": page_slug(s.name), "params": _params_text(s.params),
                "before": format_value(before, s.unit) if before is not None else "",
                "after": format_value(now, s.unit) if now is not None else s.status[i],
                "ratio": f"{ratio:.3f}" if ratio else "", "note": note, "css": css,
                "order": (order, -abs(math.log(ratio)) if ratio and ratio > 0 else 0)}

    # -- regressions and feed -----------------------------------------------------------------

    def _regressions(self, site: SiteData, common: dict) -> None:
        rows, fixed = [], 0
        for s in site.series.values():
            for c in s.changes:
                if c.regression and c.open:
                    rows.append({"name": s.name, "page": page_slug(s.name),
                                 "params": _params_text(s.params), "last_good": c.last_good,
                                 "first_bad": c.first_bad,
                                 "before": format_value(c.before, s.unit),
                                 "after": format_value(c.after, s.unit), "ratio": c.ratio,
                                 "p_value": c.p_value})
                else:
                    fixed += 1
        rows.sort(key=lambda r: (-r["first_bad"].date, r["name"]))
        rel = f"{site.slug}/regressions.html"
        self._fresh(rel, str(time.time()))
        self._render(rel, "regressions.html", rows=rows, fixed=fixed, **common)
        feed = f"{site.slug}/regressions.atom"
        self._fresh(feed, str(time.time()))
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
        self._fresh("machines.html", str(time.time()))
        self._render("machines.html", "machines.html", machines=entries, site=None,
                     sites=sites)


@dataclass
class _Named:
    name: str


def _draw_chunk(job) -> tuple[str, str]:
    chunk, commits, url = job

    def link(c: CommitInfo) -> str:
        return url + c.hash if url else f"../c/{c.hash}.html"

    prefix = hashlib.sha256(repr([s.key for s in chunk]).encode()).hexdigest()[:6]
    return (history_svg(chunk, commits, by_date=False, link=link, id_prefix=f"o{prefix}-"),
            history_svg(chunk, commits, by_date=True, link=link, id_prefix=f"d{prefix}-"))
