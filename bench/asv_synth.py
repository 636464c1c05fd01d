"""A synthetic, deterministic asv results set (format v2) over a real git history.

Used by bench/publish_vs_asv.py. ``make_repo`` builds a git repository of N commits on
``main`` with ``git fast-import`` (a few hundred milliseconds for a thousand commits) and
lightweight tags every 100 commits; ``write_results`` writes what ``asv run
--record-samples`` would have left in ``results/``: ``benchmarks.json``,
``<machine>/machine.json`` and one ``<hash8>-virtualenv-py3.11.json`` per commit, named by
the real hashes, with the commit's date (ms) in ``date``.

The suite mix for 200 benchmarks is 160 plain ``time_`` benchmarks, 20 ``time_`` with one
parameter of three values, 10 ``track_`` and 10 ``mem_``. A time result has 10 raw
samples per parameter set (``samples``), ``result`` = their median, the 99% confidence
interval of the median (order statistics), quartiles, ``number`` and ``repeat``; like
asv, statistics are kept to 5 significant digits and ``track_``/``mem_`` results have one
value and no samples or statistics. About one benchmark in six gets one or two steps
(regressions or improvements, +-20% to x2); one benchmark fails (null) on ~2% of commits
and one parameter set is skipped (NaN) on the first 5% of commits.

Every commit's data comes from its own seeded generator, so commit ``i`` is the same
whether it is written with the others or on its own (``write_commit``) later.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MACHINE = "synth-machine"
ENV_NAME = "virtualenv-py3.11"
PYTHON = "3.11"
START = 1_672_531_200  # 2023-01-01T00:00:00Z
SAMPLES = 10
COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
           "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number", "stats_repeat",
           "samples", "profile"]
MACHINE_INFO = {"arch": "x86_64", "cpu": "Synthetic CPU @ 3.00GHz", "machine": MACHINE,
                "num_cpu": "2", "os": "Linux 6.1.0", "ram": "8048016"}


@dataclass
class Commit:
    index: int
    sha: str
    date: int  # seconds since the epoch (committer date)


@dataclass
class Bench:
    name: str
    kind: str  # time, track, memory
    unit: str
    base: list[float]  # level per parameter set at commit 0
    noise: float  # relative standard deviation of one sample
    number: int = 1
    params: list[list[str]] = field(default_factory=list)
    param_names: list[str] = field(default_factory=list)
    steps: list[tuple[int, float]] = field(default_factory=list)  # (commit index, factor)
    fail_rate: float = 0.0  # share of commits where it fails (null)
    skip_until: int = 0  # the last parameter set is skipped (NaN) before this commit

    @property
    def code(self) -> str:
        method = self.name.rsplit(".", 1)[-1]
        args = ", ".join(["self", *self.param_names])
        return f"def {method}({args}):\n    work({self.base[0]!r})\n"

    @property
    def version(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()

    def level(self, combo: int, index: int) -> float:
        value = self.base[combo]
        for at, factor in self.steps:
            if index >= at:
                value *= factor
        return value

    def meta(self) -> dict:
        timing = self.kind == "time"
        return {
            "code": self.code, "min_run_count": 2, "name": self.name,
            "number": self.number if timing else 0, "param_names": self.param_names,
            "params": self.params, "repeat": SAMPLES if timing else 0, "rounds": 2,
            "sample_time": 0.01, "timeout": 60.0, "type": self.kind, "unit": self.unit,
            "version": self.version, "warmup_time": -1,
        }


def make_suite(n_benchmarks: int, n_commits: int, seed: int = 1) -> list[Bench]:
    """80% plain time_, 10% time_ with one 3-value parameter, 5% track_, 5% mem_."""
    rng = random.Random(f"suite:{seed}")
    n_param = n_benchmarks // 10
    n_track = n_benchmarks // 20
    n_mem = n_benchmarks // 20
    n_plain = n_benchmarks - n_param - n_track - n_mem
    suite: list[Bench] = []
    for i in range(n_plain):
        module, cls, method = i // 20, (i // 5) % 4, i % 5
        base = 10 ** rng.uniform(-6.5, -1.5)
        suite.append(Bench(f"bench_mod{module}.Suite{cls}.time_op{method}", "time", "seconds",
                           [base], rng.uniform(0.005, 0.04),
                           number=max(1, int(0.01 / base))))
    for i in range(n_param):
        base = 10 ** rng.uniform(-7, -4)
        sizes = [10, 100, 1000]
        suite.append(Bench(f"bench_params.Sized{i}.time_sized", "time", "seconds",
                           [base * n for n in sizes], rng.uniform(0.005, 0.04),
                           number=max(1, int(0.01 / (base * 100))),
                           params=[[repr(n) for n in sizes]], param_names=["n"]))
    for i in range(n_track):
        suite.append(Bench(f"bench_track.Counts.track_count{i}", "track", "unit",
                           [float(rng.randrange(100, 100_000))], 0.0))
    for i in range(n_mem):
        suite.append(Bench(f"bench_mem.Sizes.mem_size{i}", "memory", "bytes",
                           [float(rng.randrange(1_000, 10_000_000))], 0.0))
    lo, hi = max(1, n_commits // 10), max(2, n_commits * 9 // 10)
    for bench in rng.sample(suite, max(1, len(suite) // 6)):
        for _ in range(rng.choice((1, 1, 2))):
            bench.steps.append((rng.randrange(lo, hi),
                                rng.choice((1.2, 1.3, 1.5, 2.0, 0.8, 0.7, 0.5))))
        bench.steps.sort()
    if n_plain > 1:
        suite[1].fail_rate = 0.02
    if n_param:
        suite[n_plain].skip_until = n_commits // 20
    return suite


# -- git ----------------------------------------------------------------------------------------


def commit_date(index: int, seed: int = 1) -> int:
    """About four commits a day, a little jitter, always increasing."""
    return START + index * 6 * 3600 + random.Random(f"date:{seed}:{index}").randrange(3000)


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, **kw) -> str:
    env = {**os.environ, **(env or {}), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, check=True, text=True,
                          capture_output=True, **kw)
    return proc.stdout


def make_repo(repo: Path, n: int, seed: int = 1, tag_every: int = 100) -> list[Commit]:
    """A git repository with ``n`` first-parent commits on ``main``, oldest first."""
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    chunks: list[str] = []
    for i in range(n):
        content = f"VERSION = {i}\n"
        message = f"commit {i}\n"
        who = f"Synth Dev <dev@example.com> {commit_date(i, seed)} +0000"
        chunks.append(f"commit refs/heads/main\nmark :{i + 1}\nauthor {who}\ncommitter {who}\n"
                      f"data {len(message)}\n{message}"
                      f"M 644 inline synth.py\ndata {len(content)}\n{content}\n")
        if tag_every and i and i % tag_every == 0:
            chunks.append(f"reset refs/tags/v0.{i // tag_every}\nfrom :{i + 1}\n\n")
    _git(repo, "fast-import", "--quiet", input="".join(chunks))
    _git(repo, "reset", "-q", "--hard", "main")
    shas = _git(repo, "rev-list", "--first-parent", "--reverse", "main").split()
    if len(shas) != n:
        raise RuntimeError(f"expected {n} commits in {repo}, found {len(shas)}")
    return [Commit(i, sha, commit_date(i, seed)) for i, sha in enumerate(shas)]


def add_commit(repo: Path, index: int, seed: int = 1) -> Commit:
    """One more commit on ``main`` (the ``index``-th), as a developer would push it."""
    (repo / "synth.py").write_text(f"VERSION = {index}\n")
    stamp = f"{commit_date(index, seed)} +0000"
    env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
           "GIT_AUTHOR_NAME": "Synth Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Synth Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    _git(repo, "commit", "-q", "-a", "-m", f"commit {index}", env=env)
    return Commit(index, _git(repo, "rev-parse", "HEAD").strip(), commit_date(index, seed))


# -- results ------------------------------------------------------------------------------------


def _sig5(x: float) -> float:
    return float(f"{x:.5g}")


def _median_ci99(sorted_values: list[float]) -> tuple[float, float]:
    """Distribution-free 99% interval of the median: order statistics of Binomial(n, 1/2)."""
    n = len(sorted_values)
    cdf, k = 0.0, 0
    while k < n:
        p = math.comb(n, k) / 2**n
        if cdf + p > 0.005:
            break
        cdf += p
        k += 1
    k = min(k, (n - 1) // 2)
    return sorted_values[k], sorted_values[n - 1 - k]


def commit_results(commit: Commit, suite: list[Bench], seed: int = 1) -> dict:
    """The content of one asv result file for ``commit``."""
    rng = random.Random(f"results:{seed}:{commit.index}")
    clock = commit.date * 1000 + 3_600_000  # measured an hour after the commit
    results: dict[str, list] = {}
    for bench in suite:
        combos = len(bench.base)
        started, duration = clock, 0.0
        if bench.fail_rate and rng.random() < bench.fail_rate:
            results[bench.name] = [None, bench.params, bench.version, started, 0.5]
            clock += 500
            continue
        values: list[float] = []
        samples: list[list[float] | None] = []
        stats: list[dict | None] = []
        for c in range(combos):
            if c == combos - 1 and commit.index < bench.skip_until:
                values.append(math.nan)
                samples.append(None)
                stats.append(None)
                continue
            level = bench.level(c, commit.index)
            if bench.kind != "time":
                jitter = 1 + (rng.random() < 0.05) * rng.choice((-0.001, 0.001))
                values.append(float(round(level * jitter)))
                samples.append(None)
                stats.append(None)
                duration += 0.05
                continue
            raw = []
            for _ in range(SAMPLES):
                x = level * (1 + rng.gauss(0, bench.noise))
                if rng.random() < 0.02:  # the odd interrupted sample
                    x *= 1 + rng.uniform(0.1, 0.5)
                raw.append(max(x, level * 0.5))
            ordered = sorted(raw)
            low, high = _median_ci99(ordered)
            q25, _, q75 = statistics.quantiles(ordered, n=4, method="inclusive")
            values.append(statistics.median(ordered))
            samples.append(raw)
            stats.append({"ci_99_a": low, "ci_99_b": high, "q_25": q25, "q_75": q75,
                          "number": bench.number, "repeat": SAMPLES})
            duration += sum(raw) * bench.number * 1.3 + 0.1
        duration = round(duration, 5)
        clock += int(duration * 1000) + 1
        row: list = [values, bench.params, bench.version, started, _sig5(duration)]
        for key in ("ci_99_a", "ci_99_b", "q_25", "q_75", "number", "repeat"):
            column = [None if s is None else s[key] for s in stats]
            if key in ("ci_99_a", "ci_99_b", "q_25", "q_75"):
                column = [None if v is None else _sig5(v) for v in column]
            row.append(None if all(v is None for v in column) else column)
        row.append(None if all(s is None for s in samples) else samples)
        while row and row[-1] is None:
            row.pop()
        results[bench.name] = row
    return {
        "commit_hash": commit.sha, "env_name": ENV_NAME, "date": commit.date * 1000,
        "params": {**MACHINE_INFO, "python": PYTHON}, "python": PYTHON, "requirements": {},
        "env_vars": {}, "result_columns": COLUMNS, "results": results,
        "durations": {"<build>": round(3 + rng.random(), 5)}, "version": 2,
    }


def write_commit(results_dir: Path, commit: Commit, suite: list[Bench], seed: int = 1) -> Path:
    path = results_dir / MACHINE / f"{commit.sha[:8]}-{ENV_NAME}.json"
    path.write_text(json.dumps(commit_results(commit, suite, seed)))
    return path


def write_header(results_dir: Path, suite: list[Bench]) -> None:
    """``benchmarks.json`` and ``<machine>/machine.json``."""
    (results_dir / MACHINE).mkdir(parents=True, exist_ok=True)
    benchmarks: dict = {b.name: b.meta() for b in suite}
    benchmarks["version"] = 2
    (results_dir / "benchmarks.json").write_text(json.dumps(benchmarks, indent=4))
    (results_dir / MACHINE / "machine.json").write_text(
        json.dumps({**MACHINE_INFO, "version": 1}, indent=4))


def write_results(results_dir: Path, commits: list[Commit], suite: list[Bench],
                  seed: int = 1) -> None:
    write_header(results_dir, suite)
    for commit in commits:
        write_commit(results_dir, commit, suite, seed)


def write_asv_conf(repo: Path, results_dir: str, html_dir: str) -> Path:
    path = repo / "asv.conf.json"
    path.write_text(json.dumps({
        "version": 1, "project": "synth", "project_url": "https://example.com/synth",
        "repo": ".", "branches": ["main"], "environment_type": "virtualenv",
        "pythons": [PYTHON], "benchmark_dir": "benchmarks", "results_dir": results_dir,
        "html_dir": html_dir, "env_dir": ".asv/env",
    }, indent=4))
    return path
