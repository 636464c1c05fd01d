"""`histbench publish`: the static history site, rendered with Jinja2 and matplotlib.

Incremental by construction: every page has a digest of exactly what it shows (plus the
templates' and histbench's version); a page whose digest is in the manifest and whose file
exists is not rendered again (``PageWriter``). After one new commit that means the new
commit's page, its parent's (for the "next" link), the benchmark pages and the summaries,
not the thousand other commit pages. Benchmark plots, the expensive part, are drawn in
parallel processes (``page_tasks``). Everything is relative links and local files: the site
works from file:// and offline. One module per kind of page, under ``pages/``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from histbench.analysis.series import left_out_text
from histbench.analysis.series import machines as result_machines
from histbench.core.config import Config, commit_url_problem
from histbench.core.errors import HistbenchError
from histbench.core.parallel import available_cpus
from histbench.site import templating
from histbench.site.events import find_site_events
from histbench.site.model import ResultCache, SiteData, StepCache, load_site_data
from histbench.site.page_tasks import (
    TaskContext,
    TaskOutcome,
    benchmark_tasks,
    commit_tasks,
    run_tasks,
)
from histbench.site.page_writer import MANIFEST, PageWriter
from histbench.site.pages.benchmark import AxisLayerCache, BenchmarkPages, BenchmarkSettings
from histbench.site.pages.commit import CommitPages
from histbench.site.pages.context import summary_context
from histbench.site.pages.index import write_index_pages
from histbench.site.pages.machines import write_machines_page
from histbench.site.pages.regressions import write_regressions
from histbench.site.pages.static_files import copy_static_files
from histbench.site.templating import PAGE_CODE
from histbench.store.results import load_benchmark_info

__all__ = ["CACHE_DIR", "MANIFEST", "PAGE_CODE", "PublishReport", "Publisher"]

CACHE_DIR = ".histbench-cache"


@dataclass
class PublishReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class Publisher:
    """Publishes the results of ``config`` as a site in ``html_dir``: loads them, then has
    each kind of page written, the many benchmark and commit pages by worker processes."""

    def __init__(self, config: Config, html_dir: Path | None = None, *, alpha: float = 0.05,
                 jobs: int | None = None):
        self.config = config
        self.html_dir = Path(html_dir or config.html_dir)
        self.alpha = alpha
        self.jobs = jobs if jobs is not None else available_cpus()

    def publish(self, order: list[str] | None = None,
                known: Collection[str] | None = None) -> PublishReport:
        """``order``: the first-parent history, oldest first (commits' positions in it
        place bisect hints); ``known``: every commit of the repository (results of any
        other are left out, and said)."""
        start = time.perf_counter()
        _check_commit_url(self.config)
        results_dir = self.config.results_dir
        names = result_machines(results_dir)
        if not names:
            raise HistbenchError(f"{results_dir}: no results to publish (run `histbench run` "
                                 "or `histbench import-asv` first)")
        self.html_dir.mkdir(parents=True, exist_ok=True)
        digest = templating.page_code_digest()
        writer = PageWriter.open(self.html_dir, templating.environment(), self.config.project,
                                 digest)
        cache = ResultCache(self.html_dir / CACHE_DIR / "results.pickle")
        steps = StepCache(self.html_dir / CACHE_DIR / "steps.pickle")
        sites = self._load_sites(names, cache, order, known)
        for site in sites:
            find_site_events(site, steps, self.alpha, self.config.threshold_for, self.jobs)
        settings = BenchmarkSettings(self.config, self.alpha,
                                     {h: i for i, h in enumerate(order or [])},
                                     load_benchmark_info(results_dir))
        copy_static_files(writer)
        axes = AxisLayerCache(self.html_dir / CACHE_DIR / "axes.pickle", digest)

        warnings = [_left_out_warning(site) for site in sites if site.left_out]

        def summaries_and_caches() -> None:
            for site in sites:
                self._summaries(writer, site, sites, settings.position)
            warnings.extend(write_machines_page(writer, results_dir, sites))
            cache.save()

        axes.add(self._task_pages(writer, BenchmarkPages(sites, settings, axes.entries),
                                  summaries_and_caches))
        steps.save()
        axes.save()
        pages = writer.finish()
        return PublishReport(pages.written, pages.skipped, time.perf_counter() - start,
                             warnings)

    def _load_sites(self, machine_names: list[str], cache: ResultCache,
                    order: list[str] | None, known: Collection[str] | None) -> list[SiteData]:
        """A site per machine and environment, their steps not yet detected (that is
        ``find_site_events``, for all of a site's series at once)."""
        sites: list[SiteData] = []
        for name in machine_names:
            sites += load_site_data(self.config.results_dir, name, cache, order=order,
                                    known=known,
                                    jobs=self.jobs, meanwhile=_import_drawing)
        cache.prune({str(p) for p in cache.entries if Path(p).exists()})
        return sites

    def _task_pages(self, writer: PageWriter, benchmarks: BenchmarkPages,
                    meanwhile: Callable[[], object]) -> dict[tuple, str]:
        """Benchmark pages, then commit pages while this process runs ``meanwhile``;
        returns the axis layers drawn."""
        outcomes = run_tasks(benchmark_tasks(benchmarks), TaskContext(writer, benchmarks),
                             self.jobs)
        drawn = _absorb(outcomes, writer)
        commits = CommitPages(benchmarks.sites, self.config, benchmarks.settings.position)
        outcomes = run_tasks(commit_tasks(commits), TaskContext(writer, benchmarks, commits),
                             self.jobs, meanwhile)
        drawn.update(_absorb(outcomes, writer))
        return drawn

    @staticmethod
    def _summaries(writer: PageWriter, site: SiteData, sites: list[SiteData],
                   position: dict[str, int]) -> None:
        context = summary_context(site, sites)
        write_index_pages(writer, site, context, top=site is sites[0], position=position)
        write_regressions(writer, site, context)


def _left_out_warning(site: SiteData) -> str:
    return f"{site.machine} ({site.env}): {left_out_text(site.left_out)}: not shown"


def _absorb(outcomes: list[TaskOutcome], writer: PageWriter) -> dict[tuple, str]:
    """The tasks' bookkeeping, taken in as if their work had been done here; returns the
    axis layers they drew."""
    drawn: dict[tuple, str] = {}
    for outcome in outcomes:
        writer.absorb(outcome.pages)
        drawn.update(outcome.axes)
    return drawn


def _check_commit_url(config: Config) -> None:
    """``load_config`` refuses a ``show_commit_url`` that would not be a safe link; a
    Config built in code skips that, so the site checks again before linking every commit
    to it."""
    problem = commit_url_problem(config.show_commit_url)
    if problem:
        raise HistbenchError(f"{config.path}: key 'show_commit_url' {problem}")


def _import_drawing() -> None:
    """What page workers need (matplotlib, scipy's special functions), imported once here
    so that every worker forked later has it instead of importing it again."""
    importlib.import_module("histbench.site.plots")
    importlib.import_module("scipy.special")
