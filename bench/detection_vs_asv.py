"""Step detection, histbench against asv, on a labelled corpus of synthetic histories.

Usage: python bench/detection_vs_asv.py [--histories N] [--seed S] [--no-asv]

The corpus (``make_corpus``, deterministic for a seed) has, for each noise kind, N
histories with steps and N without. Each history:

- has 100 to 300 commits (uniform); each commit 8 to 12 samples (uniform), except that
  about 2% of the commits have no data at all (an empty list: a failed build, say),
  though never the two commits on either side of a true step;
- starts at a level of 10**U(-5, -1) seconds;
- histories with steps have 1 to 3 of them, at commits at least 15 commits apart and at
  least 10 commits from either end. Each step's size m is log-uniform in [3%, 50%] and
  goes up (level x (1 + m)) or down (level x (1 - m)) with equal chance.

Noise kinds, per sample (``level`` is the commit's true level):

- ``gauss1%``:  level * (1 + N(0, 0.01))
- ``gauss3%``:  level * (1 + N(0, 0.03))
- ``lognormal``: level * exp(N(0, 0.05))
- ``outliers``: level * (1 + N(0, 0.01)), and each sample with probability 0.05 is
  multiplied by U(2, 5) (a sample hit by a context switch, a GC pause, ...)
- ``jitter``:   the commit's level wobbles: level * (1 + N(0, 0.01)) once per commit,
  then each sample * (1 + N(0, 0.005)). Samples of a commit agree, commits do not.
- ``drift``:    level * (1 + 0.2 * i / (n - 1)) at commit i (a slow +20% over the
  history), then * (1 + N(0, 0.01)) per sample.

Scoring: a detection is a true positive only if its index is exactly the commit where
the true step starts (each true step matched at most once). Precision, recall and F1
are over the histories with steps; false alarms per 100 commits and the share of
histories with any false alarm ("FWER") are over the histories without.

histbench: ``histbench.detect.detect_steps(samples)`` at its defaults (alpha = 0.05).

asv: fed as ``asv publish`` feeds it. For each commit, ``asv_runner.statistics.
compute_stats(samples, 1)`` gives the value asv reports (the median) and its 99% CI, and
``asv._stats.get_weight(stats)`` turns the CI into the weight (2 / CI width; None when
the CI is infinite); a commit without data is a None value. ``asv.step_detect.
detect_steps(y, w)`` then fits asv's piecewise-constant model; its steps are the left ends
of the pieces after the first (what asv's graphs show as steps, and what
``detect_regressions`` chooses its regressions from: that one keeps only the upward steps
that still matter for the latest value, so it is no detector of all steps). asv runs in
its own virtualenv (/tmp/histbench-bench-asv-venv, made with ``python -m venv`` and
``pip install asv`` when missing), by subprocess, JSON in and out.

Last, the wall time of histbench on one history of 10,000 commits x 10 samples.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from histbench.detect import detect_steps  # noqa: E402

ASV_VENV = Path(tempfile.gettempdir()) / "histbench-bench-asv-venv"
KINDS = ("gauss1%", "gauss3%", "lognormal", "outliers", "jitter", "drift")
MIN_STEP, MAX_STEP = 0.03, 0.50
MIN_GAP, MARGIN = 15, 10
TARGET_F1_OVERALL, TARGET_F1_KIND, TARGET_FALSE_ALARMS = 0.95, 0.85, 0.1

ASV_SCRIPT = r"""
import json, sys
from asv import step_detect
from asv._stats import get_weight
from asv_runner.statistics import compute_stats

out = []
for history in json.load(sys.stdin):
    y, w = [], []
    for samples in history:
        if samples:
            value, stats = compute_stats(samples, 1)
            y.append(value)
            w.append(get_weight(stats))
        else:
            y.append(None)
            w.append(None)
    steps = step_detect.detect_steps(y, w)
    out.append([left for left, _right, _val, _min, _err in steps[1:]])
json.dump(out, sys.stdout)
"""


@dataclass
class History:
    kind: str
    samples: list[list[float]]
    steps: list[int]

    @property
    def n(self) -> int:
        return len(self.samples)


def _step_positions(rng: np.random.Generator, n: int, count: int) -> list[int]:
    while True:
        pos = sorted(int(p) for p in rng.integers(MARGIN, n - MARGIN + 1, count))
        if all(b - a >= MIN_GAP for a, b in zip(pos, pos[1:], strict=False)):
            return pos


def make_history(rng: np.random.Generator, kind: str, with_steps: bool) -> History:
    n = int(rng.integers(100, 301))
    base = 10 ** rng.uniform(-5, -1)
    steps = _step_positions(rng, n, int(rng.integers(1, 4))) if with_steps else []
    level = np.full(n, base)
    for p in steps:
        m = float(np.exp(rng.uniform(np.log(MIN_STEP), np.log(MAX_STEP))))
        level[p:] *= 1 + m if rng.random() < 0.5 else 1 - m
    if kind == "drift":
        level *= 1 + 0.2 * np.arange(n) / (n - 1)
    if kind == "jitter":
        level *= 1 + rng.normal(0, 0.01, n)
    counts = rng.integers(8, 13, n)
    counts[rng.random(n) < 0.02] = 0
    for p in steps:  # the commits on both sides of a step have data: the truth is exact
        counts[p - 1 : p + 1] = np.maximum(counts[p - 1 : p + 1], 8)
    samples = [commit_samples(rng, lev, int(k), kind) for lev, k in zip(level, counts,
                                                                         strict=True)]
    return History(kind, samples, steps)


def commit_samples(rng: np.random.Generator, level: float, count: int,
                   kind: str) -> list[float]:
    """One commit's samples around ``level`` with the noise of ``kind`` (the tests of the
    detector use the same generator)."""
    kind = kind.rstrip("%")
    if kind == "gauss3":
        s = level * (1 + rng.normal(0, 0.03, count))
    elif kind == "lognormal":
        s = level * np.exp(rng.normal(0, 0.05, count))
    elif kind == "jitter":
        s = level * (1 + rng.normal(0, 0.005, count))
    else:
        s = level * (1 + rng.normal(0, 0.01, count))
    if kind == "outliers":
        hit = rng.random(count) < 0.05
        s[hit] *= rng.uniform(2, 5, int(hit.sum()))
    return [float(v) for v in s]


def make_corpus(histories: int, seed: int) -> list[History]:
    rng = np.random.default_rng(seed)
    return [make_history(rng, kind, with_steps) for kind in KINDS
            for with_steps in (True, False) for _ in range(histories)]


def run_histbench(corpus: list[History]) -> tuple[list[list[int]], float]:
    start = time.perf_counter()
    found = [[s.index for s in detect_steps(h.samples)] for h in corpus]
    return found, time.perf_counter() - start


def asv_python() -> Path:
    python = ASV_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {ASV_VENV} with asv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(ASV_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "asv"], check=True)
    return python


def run_asv(corpus: list[History]) -> tuple[list[list[int]], float]:
    python = asv_python()
    half = (len(corpus) + 1) // 2  # two processes: this machine has two cores
    chunks = [corpus[:half], corpus[half:]]
    start = time.perf_counter()
    procs = [subprocess.Popen([str(python), "-c", ASV_SCRIPT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in chunks]
    outs = []
    for proc, chunk in zip(procs, chunks, strict=True):
        out, _ = proc.communicate(json.dumps([h.samples for h in chunk]))
        if proc.returncode:
            raise SystemExit("asv's step detector failed")
        outs += json.loads(out)
    return outs, time.perf_counter() - start


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_alarms: int = 0
    null_commits: int = 0
    null_histories: int = 0
    null_hit: int = 0

    def add(self, history: History, found: list[int]) -> None:
        if history.steps:
            hits = len(set(found) & set(history.steps))
            self.tp += hits
            self.fp += len(found) - hits
            self.fn += len(history.steps) - hits
        else:
            self.false_alarms += len(found)
            self.null_commits += history.n
            self.null_histories += 1
            self.null_hit += bool(found)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def per_100(self) -> float:
        return 100 * self.false_alarms / self.null_commits if self.null_commits else 0.0

    @property
    def fwer(self) -> float:
        return self.null_hit / self.null_histories if self.null_histories else 0.0


def score(corpus: list[History], found: list[list[int]]) -> dict[str, Score]:
    scores = {kind: Score() for kind in (*KINDS, "overall")}
    for history, f in zip(corpus, found, strict=True):
        scores[history.kind].add(history, f)
        scores["overall"].add(history, f)
    return scores


def print_table(results: dict[str, dict[str, Score]]) -> None:
    print(f"{'noise':<12} {'tool':<10} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'false alarms/100 commits':>25} {'FWER':>6}")
    for kind in (*KINDS, "overall"):
        for tool, scores in results.items():
            s = scores[kind]
            print(f"{kind:<12} {tool:<10} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} "
                  f"{s.per_100:>25.3f} {s.fwer:>6.3f}")


def time_long_history(seed: int) -> float:
    rng = np.random.default_rng(seed)
    n = 10_000
    level = np.ones(n)
    for p in (2_000, 5_000, 7_500):
        level[p:] *= 1.05
    samples = [list(lev * (1 + rng.normal(0, 0.01, 10))) for lev in level]
    detect_steps(samples)  # warm-up: imports, scipy's distributions
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        found = detect_steps(samples)
        best = min(best, time.perf_counter() - start)
    print(f"histbench, one history of {n} commits x 10 samples: {best:.3f} s "
          f"(best of 3), steps at {[s.index for s in found]} (true: [2000, 5000, 7500])")
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, default=100,
                        help="histories per noise kind, with and without steps (each)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--no-asv", action="store_true", help="histbench only")
    args = parser.parse_args(argv)

    corpus = make_corpus(args.histories, args.seed)
    commits = sum(h.n for h in corpus)
    steps = sum(len(h.steps) for h in corpus)
    print(f"corpus: {len(corpus)} histories, {commits} commits, {steps} true steps")
    found, hb_time = run_histbench(corpus)
    results = {"histbench": score(corpus, found)}
    print(f"histbench: {hb_time:.1f} s for the corpus")
    if not args.no_asv:
        asv_found, asv_time = run_asv(corpus)
        results["asv"] = score(corpus, asv_found)
        print(f"asv: {asv_time:.1f} s for the corpus (2 processes)")
    print()
    print_table(results)
    print()
    long_time = time_long_history(args.seed)

    hb = results["histbench"]
    ok = (hb["overall"].f1 >= TARGET_F1_OVERALL
          and all(hb[k].f1 >= TARGET_F1_KIND for k in KINDS)
          and hb["overall"].per_100 <= TARGET_FALSE_ALARMS and long_time < 1.0)
    print(f"targets (F1 >= {TARGET_F1_OVERALL} overall, >= {TARGET_F1_KIND} per noise kind, "
          f"<= {TARGET_FALSE_ALARMS} false alarms/100 commits, 10,000 commits < 1 s): "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
