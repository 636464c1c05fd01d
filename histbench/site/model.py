"""What the site shows, computed from the results: series, levels, steps and changes.

Built for large histories (thousands of commits, hundreds of benchmarks): result files are
condensed to columns once and cached by (path, mtime, size), so a publish after one new
commit parses one file, not a thousand. Step detection is cached by the series' samples
(``StepCache``); event finding (site/events.py) runs what is not cached in worker
processes, for all of a site's series at once, before any page is written.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from array import array
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from histbench.analysis.changes import Change
from histbench.analysis.events import EventReport
from histbench.analysis.events.workspace import detect_all
from histbench.analysis.series import PointStatus, SeriesInfo, order_commits
from histbench.analysis.shard_offsets import ShardOffsets, divided, load_offsets
from histbench.analysis.steps import Step
from histbench.core.errors import HistbenchError
from histbench.core.parallel import fork_map
from histbench.site.cache_files import read_cache, write_cache
from histbench.store import machine as machines
from histbench.store import results, shards
from histbench.store.results import CommitInfo
from histbench.store.shards import ShardLabel
from histbench.store.statuses import BuildRecord, BuildStatus, Status

# What the caches pickle, by version: a cache of another version is not read.
RESULT_CACHE_VERSION = 9  # 8: samples checked, stale summaries made again; 9: shard, hardware
STEP_CACHE_VERSION = 6


@dataclass
class SampleStore:
    """Every sample of a site in one array: result g's are flat[bounds[g]:bounds[g + 1]].
    Series take views of it only when their samples are needed (detecting steps)."""

    flat: np.ndarray
    bounds: np.ndarray

    def of(self, refs: np.ndarray) -> list[np.ndarray]:
        flat, bounds = self.flat, self.bounds
        return [flat[bounds[g]:bounds[g + 1]] if g >= 0 else flat[:0] for g in refs.tolist()]


@dataclass
class SeriesData(SeriesInfo):
    status: list[PointStatus] = field(default_factory=list)  # per commit
    median: list[float | None] = field(default_factory=list)
    ci_low: list[float | None] = field(default_factory=list)
    ci_high: list[float | None] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    disturbed: list[float | None] = field(default_factory=list)  # share of samples left out
    steps: list[Step] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    store: SampleStore | None = None
    refs: np.ndarray | None = None  # per commit: the result in ``store``, -1 if none counts
    factors: list[float] | None = None  # per commit: its shard's runner offset, divided out

    def samples(self) -> list[np.ndarray]:
        """Raw samples per commit (empty where the point is not ok)."""
        return self.store.of(self.refs) if self.store is not None else []

    def detection_samples(self) -> list[np.ndarray]:
        """What step detection sees: the samples less sharded runs' runner offsets."""
        return divided(self.samples(), self.factors)

    def digest(self) -> str:
        """Changes whenever anything drawn from this series would (numbers hashed as bytes:
        a repr of a thousand floats costs ten times as much)."""
        statuses = [s.value for s in self.status]  # as when they were strings: same digests
        h = hashlib.sha256(repr((self.key, self.version, statuses, self.reasons,
                                 self.factors)).encode())
        for values in (self.median, self.ci_low, self.ci_high):
            h.update(array("d", [math.nan if v is None else v for v in values]).tobytes())
        return h.hexdigest()[:20]

    def latest(self) -> int | None:
        for i in range(len(self.status) - 1, -1, -1):
            if self.status[i] == PointStatus.OK:
                return i
        return None


@dataclass
class SiteData:
    machine: str
    env: str
    commits: list[CommitInfo]
    builds: dict[str, dict[str, Any]]
    series: dict[tuple, SeriesData]
    # (commit x series, in ``series`` order): status codes (STATUS_CODES) and medians, and
    # each point's previous measured median; NaN where there is none. For fingerprints.
    grid: dict[str, np.ndarray] = field(default_factory=dict)
    left_out: list[CommitInfo] = field(default_factory=list)  # not in the repository
    origins: dict[str, str] = field(default_factory=dict)  # commit -> tool it came from
    suite_errors: dict[str, list[str]] = field(default_factory=dict)  # commit -> errors
    # commit -> how its hardware differs from the machine record's (machine.py)
    hardware: dict[str, str] = field(default_factory=dict)
    shards: list[ShardLabel | None] = field(default_factory=list)  # per commit
    offsets: ShardOffsets | None = None  # sharded runs' runner offsets (shard_offsets)
    # Machine shifts (environment events): (first, last) commit indices into ``commits``,
    # inclusive; shaded on every benchmark plot.
    environment_bands: list[tuple[int, int]] = field(default_factory=list)
    fingerprints: list[dict[str, Any]] = field(default_factory=list)  # per commit: hardware
    events: EventReport | None = None  # once found (site/events.py), before pages are written

    def row_fingerprint(self, i: int) -> bytes:
        """What every series shows at commit ``i`` on a commit page, as bytes (cheap to
        hash: a page per commit)."""
        return b"".join(self.grid[name][i].tobytes()
                        for name in ("status", "median", "prev", "disturbed"))

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


@dataclass
class Condensed:
    """One result file reduced to what the site shows, in columns (entry j of each is
    result j): arrays of numbers pickle as blocks of bytes, which makes the cache and the
    hand-over from worker processes cheap."""

    env: str
    commit: CommitInfo | None
    build: dict[str, Any]
    keys: list[tuple]  # (name, params as items)
    meta: list[tuple]  # (kind, unit, version, higher_is_better)
    status: list[Status]
    reason: list[str | None]
    median: array  # NaN where there are no statistics
    ci_low: array
    ci_high: array
    bounds: array  # result j's samples are samples[bounds[j]:bounds[j + 1]]
    samples: array
    disturbed: array  # share of result j's samples left out as disturbed; NaN: unchecked
    origin: str = ""  # the tool the results were imported from, if any
    errors: list[str] = field(default_factory=list)  # suite files that did not import
    shard: ShardLabel | None = None  # run --shard: which shard measured it
    fingerprint: dict[str, Any] = field(default_factory=dict)  # the hardware measured on

    def samples_of(self, j: int) -> array:
        return self.samples[self.bounds[j]:self.bounds[j + 1]]


def condense_file(path: Path) -> Condensed:
    """A result file reduced to what the site shows, read straight from its JSON: building
    the full records first would take three times as long on a long history. (Column by
    column with comprehensions: this runs for every result of every commit.)"""
    data = results.read_document(path)
    try:
        results.check_document(data)  # the checks load makes, without building records
        commit = data.get("commit")
        info = results.commit_info(commit) if commit else None
        rows = data.get("results", [])
        status = [_STATUS[r.get("status", Status.OK.value)] for r in rows]
        stats = [results.checked_row_stats(r) if st == Status.OK else r.get("stats") or {}
                 for r, st in zip(rows, status, strict=True)]
        samples = array("d")
        bounds = array("q", [0])
        for r, st in zip(rows, status, strict=True):
            if st == Status.OK:
                samples.extend(itertools.chain.from_iterable(r.get("process_samples", ())))
            bounds.append(len(samples))
        return Condensed(
            data["env_name"], info,
            data.get("build", BuildRecord().to_dict()),
            [(r["name"], tuple(r.get("params", {}).items())) for r in rows],
            [(r["kind"], r.get("unit", "seconds"), r.get("version", ""),
              bool(r.get("higher_is_better", False))) for r in rows],
            status, [r.get("reason") for r in rows],
            *(array("d", [math.nan if (v := st.get(name)) is None else v for st in stats])
              for name in ("median", "median_ci_low", "median_ci_high")),
            bounds, samples, array("d", map(_disturbed_share, rows)),
            str((data.get("settings") or {}).get("imported_from") or ""),
            [results.error_line(e) for e in data.get("errors") or []],
            shards.label_of(data.get("settings")), dict(data.get("fingerprint") or {}))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise results.malformed(path, exc) from None


_STATUS = {s.value: s for s in Status}  # a lookup: an Enum call per result costs twice as much


def _disturbed_share(row: dict[str, Any]) -> float:
    d = row.get("disturbance")
    return d["rejected"] / d["samples"] if d and d.get("samples") else math.nan


def _condense_files(paths: list[Path]) -> list[Condensed]:
    return [condense_file(path) for path in paths]


class ResultCache:
    """Condensed result files, reloaded only when a file's mtime or size changed.

    Kept as a base file and a delta file: a publish after a few new commits writes the
    few new entries, not the whole history again (tens of MB for thousands of commits).
    The delta is folded into the base when it grows past a tenth of it."""

    def __init__(self, path: Path):
        self.path = path
        self.delta_path = path.with_name(path.stem + "-delta" + path.suffix)
        self.entries: dict[str, tuple[int, int, Condensed]] = read_cache(path, RESULT_CACHE_VERSION)
        self.delta: dict[str, tuple[int, int, Condensed]] = read_cache(
            self.delta_path, RESULT_CACHE_VERSION) if self.entries else {}
        self.entries.update(self.delta)
        self.added = self.removed = False

    def get_many(self, paths: list[Path], jobs: int = 1,
                 meanwhile: Callable[[], object] | None = None) -> list[Condensed]:
        """Condensed files, in order; files not cached are read by ``jobs`` processes.

        ``meanwhile`` runs in this process while they read, if they are several
        (``processes.fork_map``)."""
        stats = [path.stat() for path in paths]
        keys = [str(path) for path in paths]
        missing = [k for k, (key, st) in enumerate(zip(keys, stats, strict=True))
                   if not self._hit(key, st)]
        todo = [paths[k] for k in missing]
        jobs = jobs if len(todo) >= 4 * jobs else 1  # a few files: not worth a fork
        size = max(1, -(-len(todo) // (8 * jobs)))
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        fresh = [c for chunk in fork_map(_condense_files, chunks, jobs,
                                         meanwhile=meanwhile if jobs > 1 else None)
                 for c in chunk]
        shared: dict[tuple, list] = {}
        seen: set[int] = set()
        for entry in self.entries.values():  # cached runs share their columns already
            if id(entry[2].keys) not in seen:
                seen.add(id(entry[2].keys))
                _share(entry[2], shared)
        for k, condensed in zip(missing, fresh, strict=True):
            self.entries[keys[k]] = self.delta[keys[k]] = (stats[k].st_mtime_ns,
                                                           stats[k].st_size,
                                                           _share(condensed, shared))
            self.added = True
        return [self.entries[key][2] for key in keys]

    def _hit(self, key: str, stat: os.stat_result) -> bool:
        hit = self.entries.get(key)
        return bool(hit) and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size

    def prune(self, keep: set[str]) -> None:
        for key in set(self.entries) - keep:
            del self.entries[key]
            self.delta.pop(key, None)
            self.removed = True

    def save(self) -> None:
        if not (self.added or self.removed):
            return
        if self.removed or len(self.delta) * 10 > len(self.entries):
            write_cache(self.path, RESULT_CACHE_VERSION, self.entries)
            self.delta_path.unlink(missing_ok=True)
        else:
            write_cache(self.delta_path, RESULT_CACHE_VERSION, self.delta)


def _share(run: Condensed, shared: dict[tuple, list]) -> Condensed:
    """Make runs with equal descriptive columns (the same benchmarks, all ok, no reasons:
    nearly every commit) share one list each, so the cache pickles them once and loads in
    a fraction of the time."""
    for name in ("keys", "meta", "status", "reason"):
        column = getattr(run, name)
        setattr(run, name, shared.setdefault((name, *column), column))
    return run


def _samples_key(samples: list[np.ndarray], alpha: float, min_change: float,
                 floor: float = 0.0) -> str:
    h = hashlib.sha256(repr((alpha, min_change, floor, [len(x) for x in samples])).encode())
    h.update(np.concatenate(samples).tobytes() if samples else b"")
    return h.hexdigest()


def _detect_job(item: tuple[tuple[list, float, float], float]) -> list[Step]:
    job, alpha = item
    return detect_all([job], alpha)[0]


class StepCache:
    """detect_steps results keyed by the series' samples: unchanged series are free."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, list[Step]] = read_cache(path, STEP_CACHE_VERSION)
        self.used: dict[str, list[Step]] = {}

    def detect_many(self, jobs: list[tuple[list, float, float]], alpha: float,
                    processes: int = 1) -> list[list[Step]]:
        """detect_steps of many series (samples, min_change, noise floor), through the
        cache, those not in it by ``processes`` forked workers (event finding)."""
        jobs = [([np.asarray(x, dtype=float) for x in samples], low, floor)
                for samples, low, floor in jobs]
        keys = [_samples_key(samples, alpha, low, floor) for samples, low, floor in jobs]
        missing = {key: job for key, job in zip(keys, jobs, strict=True)
                   if key not in self.entries}
        found = fork_map(_detect_job, [(job, alpha) for job in missing.values()], processes)
        self.entries.update(zip(missing, found, strict=True))
        for key in keys:
            self.used[key] = self.entries[key]
        return [self.entries[key] for key in keys]

    def save(self) -> None:
        write_cache(self.path, STEP_CACHE_VERSION, self.used)


def load_site_data(results_dir: Path, machine: str, cache: ResultCache, *,
                   order: list[str] | None = None, known: Collection[str] | None = None,
                   jobs: int = 1,
                   meanwhile: Callable[[], object] | None = None) -> list[SiteData]:
    """One SiteData per environment measured on ``machine``, its steps not yet detected
    (site/events.py)."""
    by_env: dict[str, list[Condensed]] = {}
    aliases = results.version_aliases(results_dir)
    for condensed in cache.get_many(results.iter_result_files(results_dir, machine), jobs,
                                    meanwhile):
        if condensed.commit is not None:
            if aliases:  # results stored under the old version rule (results.py)
                condensed.meta = [(kind, unit, aliases.get((key[0], version), version), hib)
                                  for key, (kind, unit, version, hib)
                                  in zip(condensed.keys, condensed.meta, strict=True)]
            by_env.setdefault(condensed.env, []).append(condensed)
    sites = [_build(machine, env, runs, order, known) for env, runs in sorted(by_env.items())]
    for site in sites:
        _mark_hardware_and_shards(site, by_env[site.env], results_dir)
    return sites


def _mark_hardware_and_shards(site: SiteData, runs: list[Condensed], results_dir: Path) -> None:
    """Commits measured on other hardware than the machine record says (docs/ci.md), and
    the runner offsets of sharded runs, divided out of each series before its steps are
    detected (analysis/shard_offsets.py)."""
    path = machines.machine_path(results_dir, site.machine)
    try:
        recorded = machines.load(path).fingerprint() if path.is_file() else {}
    except HistbenchError:
        recorded = {}  # said on the machines page
    by_hash = {r.commit.hash: r for r in runs if r.commit is not None}
    for commit in site.commits:
        diff = machines.fingerprint_difference(recorded, by_hash[commit.hash].fingerprint)
        if diff:
            site.hardware[commit.hash] = diff
    site.shards = [by_hash[c.hash].shard for c in site.commits]
    site.fingerprints = [by_hash[c.hash].fingerprint for c in site.commits]
    if any(site.shards):
        site.offsets = load_offsets(results_dir, site.machine, site.env)
        for s in site.series.values():
            s.factors = site.offsets.factors(s.key, site.shards)


STATUS_CODES = tuple(PointStatus)  # a point's status as a number: its index here
_CODE = {status: k for k, status in enumerate(STATUS_CODES)}



def _build(machine: str, env: str, runs: list[Condensed],
           order: list[str] | None, known: Collection[str] | None) -> SiteData:
    commits, left_out = order_commits([r.commit for r in runs], order, known)
    of_commit = {r.commit.hash: r for r in runs}
    ordered = [of_commit[c.hash] for c in commits]
    by_hash = {r.commit.hash: r for r in ordered}  # the placed ones
    latest: dict[tuple, tuple] = {}  # a series' description: from its newest ok result
    for run in ordered:
        for key, status, meta in zip(run.keys, run.status, run.meta, strict=True):
            if status == Status.OK or key not in latest:
                latest[key] = meta
    series = {key: SeriesData(key=key, name=key[0], params=dict(key[1]), kind=meta[0],
                              unit=meta[1], version=meta[2], higher_is_better=meta[3])
              for key, meta in latest.items()}
    grid = _fill(list(series.values()), ordered)
    builds = {h: r.build for h, r in by_hash.items()}
    return SiteData(machine, env, commits, builds, series, grid, left_out,
                    {h: r.origin for h, r in by_hash.items() if r.origin},
                    {h: r.errors for h, r in by_hash.items() if r.errors})


def _fill(series: list[SeriesData], runs: list[Condensed]) -> dict[str, np.ndarray]:
    """Every series' point at every commit, as whole (commit x series) arrays: a large
    site has a quarter of a million points, too many for a loop over them in Python.
    The status of a point follows ``history.point_status``."""
    column = {s.key: k for k, s in enumerate(series)}
    versions: dict[str, int] = {}
    starts = np.cumsum([0] + [len(run.keys) for run in runs])
    where = np.full((len(runs), len(series)), -1, dtype=np.int64)  # global result index
    failed = np.zeros(len(runs), dtype=bool)
    for i, run in enumerate(runs):
        failed[i] = run.build.get("status") == BuildStatus.FAILED  # raw JSON: read leniently
        if not failed[i] and run.keys:
            where[i, [column[key] for key in run.keys]] = np.arange(starts[i], starts[i + 1])
    code = np.array([_CODE[st] for run in runs for st in run.status] + [0], dtype=np.int8)
    version = np.array([versions.setdefault(meta[2], len(versions)) for run in runs
                        for meta in run.meta] + [-1])
    wanted = np.array([versions.setdefault(s.version, len(versions)) for s in series])
    status = np.where(where >= 0, code[where], _CODE[PointStatus.MISSING])
    status[(where >= 0) & (version[where] != wanted)] = _CODE[PointStatus.OTHER_VERSION]
    status[failed] = _CODE[PointStatus.BUILD_FAILED]
    ok = status == _CODE[PointStatus.OK]
    values = {}
    for name in ("median", "ci_low", "ci_high", "disturbed"):
        flat = np.concatenate([np.frombuffer(getattr(run, name), dtype=float) for run in runs]
                              + [np.array([math.nan])])
        values[name] = np.where(ok, flat[where], math.nan)
    reasons = [reason for run in runs for reason in run.reason] + [None]
    flat = np.concatenate([np.frombuffer(run.samples, dtype=float) for run in runs]
                          + [np.empty(0)])
    sample_starts = np.cumsum([0] + [len(run.samples) for run in runs])
    bounds = np.concatenate([np.frombuffer(run.bounds, dtype=np.int64)[:-1] + offset
                             for run, offset in zip(runs, sample_starts, strict=False)]
                            + [np.array([len(flat)])])
    store = SampleStore(flat, bounds)
    for k, s in enumerate(series):
        s.status = [STATUS_CODES[c] for c in status[:, k].tolist()]
        s.median, s.ci_low, s.ci_high, s.disturbed = (
            [None if v != v else v for v in values[name][:, k].tolist()]
            for name in ("median", "ci_low", "ci_high", "disturbed"))
        refs = where[:, k]
        s.reasons = [reasons[g] for g in np.where(failed, -1, refs).tolist()]
        s.store, s.refs = store, np.where(ok[:, k], refs, -1)
    median = values["median"]
    last = np.maximum.accumulate(np.where(ok, np.arange(len(runs))[:, None], -1), axis=0)
    before = np.vstack([np.full((1, len(series)), -1), last[:-1]])
    prev = np.where(before >= 0, median[np.maximum(before, 0), np.arange(len(series))],
                    math.nan)
    return {"status": status.astype(np.int8), "median": median, "prev": prev,
            "disturbed": values["disturbed"]}
