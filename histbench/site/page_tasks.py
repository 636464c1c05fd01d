"""Benchmark and commit pages, the bulk of a site, as tasks that forked worker processes
run, each with the loaded site at hand (``fork_map``'s shared object, a ``TaskContext``):
a task checks its pages' digests, renders the stale ones and reports what it did in a
``TaskOutcome``, which the parent takes in."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from histbench.core import parallel
from histbench.core.formatting import unit_scale
from histbench.site.model import SeriesData
from histbench.site.page_writer import PageWriter, WrittenPages
from histbench.site.pages.benchmark import CHUNK, BenchmarkPages
from histbench.site.pages.commit import CommitPages

COMMITS_PER_TASK = 25  # commit pages a worker renders per task


@dataclass
class TaskOutcome:
    """What a page task did: its pages (manifest entries, files written, pages found
    fresh) and the axis layers it drew."""

    pages: WrittenPages
    axes: dict[tuple, str] = field(default_factory=dict)


@dataclass
class TaskContext:
    """What the tasks of one ``run_tasks`` read: the writer whose manifest they check
    against, and the page kinds they render."""

    writer: PageWriter
    benchmarks: BenchmarkPages
    commits: CommitPages | None = None


class PageTask(Protocol):
    def run(self, context: TaskContext) -> TaskOutcome: ...


@dataclass(frozen=True)
class BenchmarkPagesTask:
    """The pages of benchmarks ``names`` of site ``k``."""

    k: int
    names: tuple[str, ...]

    def run(self, context: TaskContext) -> TaskOutcome:
        writer = context.writer.for_task()
        axes = context.benchmarks.write(writer, self.k, self.names)
        return TaskOutcome(writer.pages, axes)


@dataclass(frozen=True)
class CommitPagesTask:
    """The pages of commits ``lo`` to ``hi`` (exclusive) of site ``k``."""

    k: int
    lo: int
    hi: int

    def run(self, context: TaskContext) -> TaskOutcome:
        assert context.commits is not None, "commit pages come after the benchmark pages"
        writer = context.writer.for_task()
        context.commits.write(writer, self.k, self.lo, self.hi)
        return TaskOutcome(writer.pages)


def benchmark_tasks(benchmarks: BenchmarkPages) -> list[BenchmarkPagesTask]:
    """Benchmarks whose plots likely share a y axis layer go to one task, so that one
    worker draws that layer once; the largest tasks first, so workers end together."""
    groups: dict[tuple, list[str]] = {}
    for k, members in enumerate(benchmarks.members):
        for name, series in members.items():
            groups.setdefault((k, _axis_group(series[:CHUNK])), []).append(name)
    tasks = [BenchmarkPagesTask(key[0], tuple(names)) for key, names in groups.items()]
    tasks.sort(key=lambda t: -benchmarks.size(t.k, t.names))
    return tasks


def commit_tasks(commits: CommitPages) -> list[CommitPagesTask]:
    return [CommitPagesTask(k, lo, min(lo + COMMITS_PER_TASK, len(site.commits)))
            for k, site in enumerate(commits.sites)
            for lo in range(0, len(site.commits), COMMITS_PER_TASK)]


def run_tasks(tasks: Sequence[PageTask], context: TaskContext, jobs: int,
              meanwhile: Callable[[], object] | None = None) -> list[TaskOutcome]:
    """The tasks' outcomes, in order, from ``jobs`` forked workers; ``meanwhile`` runs in
    this process while they work."""
    return parallel.fork_map(_run_task, tasks, jobs, shared=context, meanwhile=meanwhile)


def _run_task(task: PageTask) -> TaskOutcome:
    return task.run(parallel.shared())


def _axis_group(series: list[SeriesData]) -> tuple[str, int]:
    """The unit and quarter-decade of the highest value: plots alike in these most often
    get the same y axis (the exact limits come from matplotlib's locator, when drawing)."""
    top = max((abs(v) for s in series for v in s.ci_high if v is not None), default=1.0)
    factor, unit = unit_scale(series[0].unit, top)
    return unit, math.floor(4 * math.log10(top / factor)) if top > 0 else 0
