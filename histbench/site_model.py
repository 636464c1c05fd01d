"""What the site shows, computed from the results: series, levels, steps and changes.

Built for large histories (thousands of commits, hundreds of benchmarks): result files are
condensed to plain tuples once and cached by (path, mtime, size), so a publish after one
new commit parses one file, not a thousand. Step detection is cached by the series' data.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench import results
from histbench.detect import Step, detect_steps
from histbench.history import SeriesInfo, order_commits, point_status
from histbench.regressions import Change, changes_from_steps
from histbench.results import CommitInfo

CACHE_VERSION = 2
# Condensed result: name, params, kind, unit, version, higher_is_better, status, reason,
# median, ci_low, ci_high, n, samples
Cell = tuple


@dataclass
class SeriesData(SeriesInfo):
    status: list[str] = field(default_factory=list)  # per commit
    median: list[float | None] = field(default_factory=list)
    ci_low: list[float | None] = field(default_factory=list)
    ci_high: list[float | None] = field(default_factory=list)
    sample_lists: list[list[float]] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def samples(self) -> list[list[float]]:
        return self.sample_lists

    def digest(self) -> str:
        """Changes whenever anything drawn from this series would."""
        h = hashlib.sha256(repr((self.key, self.version, self.status, self.median,
                                 self.ci_low, self.ci_high)).encode())
        return h.hexdigest()[:20]

    def latest(self) -> int | None:
        for i in range(len(self.status) - 1, -1, -1):
            if self.status[i] == "ok":
                return i
        return None


@dataclass
class SiteData:
    machine: str
    env: str
    commits: list[CommitInfo]
    builds: dict[str, dict[str, Any]]
    series: dict[tuple, SeriesData]

    @property
    def slug(self) -> str:
        return f"{results.safe_name(self.machine)}--{results.safe_name(self.env)}"

    def groups(self) -> dict[str, list[SeriesData]]:
        """Benchmarks grouped by module/class (the name up to the method), for the index."""
        out: dict[str, list[SeriesData]] = {}
        for s in sorted(self.series.values(), key=lambda s: (s.name, s.label)):
            out.setdefault(s.name.rsplit(".", 1)[0] if "." in s.name else "", []).append(s)
        return out

    def benchmarks(self) -> dict[str, list[SeriesData]]:
        """Parameter sets grouped under their benchmark name."""
        out: dict[str, list[SeriesData]] = {}
        for s in sorted(self.series.values(), key=lambda s: (s.name, s.label)):
            out.setdefault(s.name, []).append(s)
        return out


def _condense(run: results.RunResults) -> dict[str, Any]:
    cells = []
    for r in run.results:
        st = r.stats
        cells.append((r.name, tuple(r.params.items()), r.kind, r.unit, r.version,
                      r.higher_is_better, r.status, r.reason,
                      st.median if st else None, st.median_ci_low if st else None,
                      st.median_ci_high if st else None, st.n if st else 0,
                      tuple(r.samples) if r.status == "ok" else ()))
    return {"env": run.env_name, "commit": run.commit, "build": run.build, "cells": cells}


class ResultCache:
    """Condensed result files, reloaded only when a file's mtime or size changed."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, tuple[int, int, dict]] = {}
        try:
            data = pickle.loads(path.read_bytes())
            if data.get("version") == CACHE_VERSION:
                self.entries = data["entries"]
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError,
                TypeError, ValueError):
            self.entries = {}
        self.dirty = False

    def get(self, path: Path) -> dict:
        stat = path.stat()
        key = str(path)
        hit = self.entries.get(key)
        if hit and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size:
            return hit[2]
        condensed = _condense(results.load(path))
        self.entries[key] = (stat.st_mtime_ns, stat.st_size, condensed)
        self.dirty = True
        return condensed

    def prune(self, keep: set[str]) -> None:
        for key in set(self.entries) - keep:
            del self.entries[key]
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps({"version": CACHE_VERSION, "entries": self.entries},
                                         protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(self.path)


class StepCache:
    """detect_steps results keyed by the series' samples: unchanged series are free."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, list[Step]] = pickle.loads(path.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError,
                ValueError):
            self.entries = {}
        self.used: dict[str, list[Step]] = {}

    def steps(self, samples: list[list[float]], alpha: float, min_change: float) -> list[Step]:
        key = hashlib.sha256(pickle.dumps((alpha, min_change, samples))).hexdigest()
        if key not in self.entries:
            self.entries[key] = detect_steps(samples, alpha=alpha, min_change=min_change)
        self.used[key] = self.entries[key]
        return self.used[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.used, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(self.path)


def load_site_data(results_dir: Path, machine: str, cache: ResultCache, steps: StepCache, *,
                   order: list[str] | None = None, alpha: float = 0.05,
                   threshold=lambda name: 0.0) -> list[SiteData]:
    """One SiteData per environment measured on ``machine``."""
    by_env: dict[str, list[dict]] = {}
    for path in results.iter_result_files(results_dir, machine):
        condensed = cache.get(path)
        if condensed["commit"] is not None:
            by_env.setdefault(condensed["env"], []).append(condensed)
    return [_build(machine, env, runs, steps, order, alpha, threshold)
            for env, runs in sorted(by_env.items())]


def _build(machine: str, env: str, runs: list[dict], step_cache: StepCache,
           order: list[str] | None, alpha: float, threshold) -> SiteData:
    by_hash = {r["commit"].hash: r for r in runs}
    commits = order_commits([r["commit"] for r in runs], order)
    latest_version: dict[tuple, Cell] = {}
    for c in commits:
        for cell in by_hash[c.hash]["cells"]:
            key = (cell[0], cell[1])
            if cell[6] == "ok" or key not in latest_version:
                latest_version[key] = cell
    series = {key: SeriesData(key=key, name=cell[0], params=dict(cell[1]), kind=cell[2],
                              unit=cell[3], version=cell[4], higher_is_better=cell[5])
              for key, cell in latest_version.items()}
    for c in commits:
        run = by_hash[c.hash]
        failed_build = run["build"].get("status") == "failed"
        cells = {(cell[0], cell[1]): cell for cell in run["cells"]}
        for key, s in series.items():
            _append(s, None if failed_build else cells.get(key), failed_build)
    for s in series.values():
        s.steps = step_cache.steps(s.sample_lists, alpha, threshold(s.name))
        s.changes = changes_from_steps(s, s.steps, commits)
    builds = {h: r["build"] for h, r in by_hash.items()}
    return SiteData(machine, env, commits, builds, series)


def _append(s: SeriesData, cell: Cell | None, failed_build: bool) -> None:
    status = point_status(failed_build, cell[6] if cell else None, cell[4] if cell else None,
                          s.version)
    ok = status == "ok"
    s.status.append(status)
    s.median.append(cell[8] if ok else None)
    s.ci_low.append(cell[9] if ok else None)
    s.ci_high.append(cell[10] if ok else None)
    s.sample_lists.append(list(cell[12]) if ok else [])
    s.reasons.append(cell[7] if cell and not failed_build else None)
