"""A machine's results as history: commits in order, one series per benchmark.

Analysis and the site both need "this benchmark, commit by commit"; building it in one place
keeps the rules in one place too: a commit without a result is a gap, never a zero; a
failed or skipped benchmark is marked as such; and results measured with another version of
the benchmark are not part of the series (they measured different code).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.core.errors import HistbenchError
from histbench.store import results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults, label_of
from histbench.store.statuses import Status, TextEnum

if TYPE_CHECKING:
    from histbench.analysis.shard_offsets import ShardOffsets
    from histbench.store.shards import ShardLabel

Key = tuple[str, tuple[tuple[str, str], ...]]


class PointStatus(TextEnum):
    """What one commit is for a series: a result's own ``Status``, or why it has none that
    counts. The site colours its plots and tables by these (site/model.STATUS_CODES)."""

    OK = Status.OK.value
    FAILED = Status.FAILED.value
    SKIPPED = Status.SKIPPED.value
    MISSING = "missing"  # the commit has no result for the benchmark
    BUILD_FAILED = "build-failed"
    OTHER_VERSION = "other-version"  # measured with another version of the benchmark


@dataclass
class Point:
    """One commit of one series."""

    commit: CommitInfo
    status: PointStatus
    result: BenchmarkResult | None = None

    @property
    def samples(self) -> list[float]:
        return self.result.samples if self.result and self.status == PointStatus.OK else []

    @property
    def groups(self) -> list[list[float]]:
        return self.result.process_samples if self.result and self.status == PointStatus.OK else []


@dataclass
class SeriesInfo:
    """What identifies a series and how to read it (shared by the site's own series)."""

    key: Key
    name: str
    params: dict[str, str]
    kind: str
    unit: str
    version: str
    higher_is_better: bool

    @property
    def label(self) -> str:
        return label_of(self.name, self.params)


@dataclass
class Series(SeriesInfo):
    points: list[Point] = field(default_factory=list)

    def samples(self) -> list[list[float]]:
        """Per commit, the raw samples (empty where there is no usable data)."""
        return [p.samples for p in self.points]


@dataclass
class History:
    machine: str
    env_name: str
    commits: list[CommitInfo]
    runs: dict[str, RunResults]
    series: dict[Key, Series]
    left_out: list[CommitInfo] = field(default_factory=list)  # not in the repository
    # sharded runs (analysis/shard_offsets.py): each commit's shard, each shard's offsets
    shards: list[ShardLabel | None] = field(default_factory=list)
    offsets: ShardOffsets | None = None

    def factors(self, key: Key) -> list[float] | None:
        """Per commit, what step detection divides the series' samples by (the runner
        offset of the commit's shard); None when nothing is divided."""
        return self.offsets.factors(key, self.shards) if self.offsets else None

    def index_of(self, sha: str) -> int:
        for i, c in enumerate(self.commits):
            if c.hash.startswith(sha):
                return i
        raise HistbenchError(f"commit {sha[:12]} has no results on machine {self.machine}")


def machines(results_dir: Path) -> list[str]:
    return sorted(p.name for p in Path(results_dir).iterdir()
                  if p.is_dir() and results.iter_result_files(results_dir, p.name)) \
        if Path(results_dir).is_dir() else []


def pick_machine(results_dir: Path, wanted: str | None) -> str:
    """The machine to analyse: the one asked for, or the only one there is."""
    found = machines(results_dir)
    if wanted:
        if wanted not in found:
            raise HistbenchError(f"{results_dir}: no results for machine {wanted!r} "
                                 f"(have: {', '.join(found) or 'none'})")
        return wanted
    if not found:
        raise HistbenchError(f"{results_dir}: no results yet (run `histbench run` first)")
    if len(found) > 1:
        raise HistbenchError(f"{results_dir}: results of several machines "
                             f"({', '.join(found)}); choose one with --machine")
    return found[0]


def load_history(results_dir: Path, machine: str, *, env_name: str | None = None,
                 order: list[str] | None = None,
                 known: Collection[str] | None = None) -> History:
    """``order``: full hashes in history order (first-parent, oldest first); commits with
    results that are not in it are placed by date. ``known``: every commit the repository
    has, when there is one (see ``order_commits``)."""
    runs = results.load_machine_results(results_dir, machine)
    if not runs:
        raise HistbenchError(f"{results_dir}/{machine}: no result files")
    envs = Counter(r.env_name for r in runs)
    env = env_name or envs.most_common(1)[0][0]
    if env not in envs:
        raise HistbenchError(f"no results for environment {env!r} on {machine} "
                             f"(have: {', '.join(sorted(envs))})")
    by_hash = {r.commit.hash: r for r in runs if r.env_name == env and r.commit}
    measured = [r.commit for r in by_hash.values()]
    commits, left_out = order_commits(measured, order, known)
    from histbench.analysis import shard_offsets  # scipy: only where a history is analysed

    labels = shard_offsets.labels_of([by_hash[c.hash] for c in commits])
    offsets = shard_offsets.load_offsets(results_dir, machine, env) if any(labels) else None
    return History(machine, env, commits, by_hash, build_series(commits, by_hash), left_out,
                   labels, offsets)


def order_commits(commits: list[CommitInfo], order: list[str] | None,
                  known: Collection[str] | None = None
                  ) -> tuple[list[CommitInfo], list[CommitInfo]]:
    """The measured commits in history order (those off the branches placed by date), and
    those left out.

    A commit the repository does not have (a forged or foreign result file, history
    rewritten since) has no place in it: it is left out, when ``known`` says so and some
    commit is in ``order`` (none is when the results belong to another repository: then
    every commit goes by date)."""
    rank = {h: i for i, h in enumerate(order or [])}
    on_branch = sorted((c for c in commits if c.hash in rank), key=lambda c: rank[c.hash])
    others = sorted((c for c in commits if c.hash not in rank), key=lambda c: c.date)
    if not on_branch:
        return others, []
    left_out = [c for c in others if known is not None and c.hash not in known]
    merged = list(on_branch)
    for c in others:  # by date, between the ordered commits
        if known is None or c.hash in known:
            pos = next((i for i, k in enumerate(merged) if k.date > c.date), len(merged))
            merged.insert(pos, c)
    return merged, left_out


def left_out_text(left_out: list[CommitInfo]) -> str:
    """Results whose commit the repository does not have, as the commands and the site
    say it (the first five, by short hash)."""
    shorts = ", ".join(c.short for c in left_out[:5]) + (", ..." if len(left_out) > 5 else "")
    return f"{len(left_out)} measured commit(s) not in the repository ({shorts})"


def build_series(commits: list[CommitInfo], runs: dict[str, RunResults]) -> dict[Key, Series]:
    latest: dict[Key, BenchmarkResult] = {}
    for c in commits:  # the newest result of each key defines the series' version
        for r in runs[c.hash].results:
            if r.status == Status.OK or r.key not in latest:
                latest[r.key] = r
    series = {
        key: Series(key=key, name=r.name, params=dict(r.params), kind=r.kind, unit=r.unit,
                    version=r.version, higher_is_better=r.higher_is_better)
        for key, r in latest.items()
    }
    for c in commits:
        run = runs[c.hash]
        found = run.by_key()
        for key, s in series.items():
            s.points.append(_point(c, run, found.get(key), s.version))
    return series


def point_status(build_failed: bool, status: str | None, version: str | None,
                 series_version: str) -> PointStatus:
    """What one commit is for a series: its result's status, or why it has none that
    counts (the build failed, no result, another version of the benchmark)."""
    if build_failed:
        return PointStatus.BUILD_FAILED
    if status is None:
        return PointStatus.MISSING
    return PointStatus(status) if version == series_version else PointStatus.OTHER_VERSION


def _point(commit: CommitInfo, run: RunResults, result: BenchmarkResult | None,
           version: str) -> Point:
    status = point_status(run.build_failed, result and result.status,
                          result and result.version, version)
    return Point(commit, status, None if status == PointStatus.BUILD_FAILED else result)


def worse_factor(ratio: float, higher_is_better: bool) -> float:
    """How many times worse B is than A (> 1 worse, < 1 better), whatever the direction."""
    if higher_is_better:
        return 1 / ratio if ratio > 0 else float("inf")
    return ratio


def worse_direction(direction: float, higher_is_better: bool) -> int:
    """1 if a move of that sign is for the worse, -1 if for the better, 0 for none: what is
    left to judge by where values of either sign leave no ratio."""
    sign = (direction > 0) - (direction < 0)
    return -sign if higher_is_better else sign
