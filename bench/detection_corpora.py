"""Labelled corpora of benchmark histories for bench/detection_vs_asv.py, three kinds.

Every history is a list of raw samples per commit (an empty list: no data) with the
indices of the commits where a true step starts. Each corpus is deterministic for a seed
and holds, per noise kind, N histories with steps and N without (the false-alarm ones).
Steps: 1 to 3 per history, at least ``MIN_GAP`` commits apart and ``MARGIN`` from either
end, each of size m log-uniform in [lo, 50%], up (x (1 + m)) or down (x (1 - m)) with
equal chance; the two commits on either side of a step always have data.

``synthetic`` (steps of 3-50%): 100 to 300 commits of 8 to 12 samples, ~2% of commits
without data, a level of 10**U(-5, -1) s, and one of six sample noises:

- ``gauss1%``:  level * (1 + N(0, 0.01))
- ``gauss3%``:  level * (1 + N(0, 0.03))
- ``lognormal``: level * exp(N(0, 0.05))
- ``outliers``: level * (1 + N(0, 0.01)), and each sample with probability 0.05 is
  multiplied by U(2, 5) (a sample hit by a context switch, a GC pause, ...)
- ``jitter``:   the commit's level wobbles: level * (1 + N(0, 0.01)) once per commit,
  then each sample * (1 + N(0, 0.005)). Samples of a commit agree, commits do not.
- ``drift``:    level * (1 + 0.2 * i / (n - 1)) at commit i (a slow +20% over the
  history), then * (1 + N(0, 0.01)) per sample.

``offsets`` (per-build offsets, steps of 3-50%): as synthetic, but every commit's level is
multiplied by its own factor, as a new build lands the code at a new memory layout:
1 + s * e, with s ~ U(0.5%, 2%) per history and e, per commit, a standard gaussian
(half the histories) or a Student t with 3 degrees of freedom scaled to unit variance
(heavier tails: a few builds far off). Samples within a commit agree closely: each is
* (1 + N(0, u)) with u ~ U(0.1%, 0.5%) per history. Kind ``offsets-noisy``: the same
offsets (either tails) on top of one of the six synthetic noises (drawn per history: the
sample noise, the commit jitter, or the slow drift of that kind).

``real`` (steps of 5-50%): windows of consecutive commits (commit-date order; 100 to 300
long, a multiple of 25, starting at a multiple of 5) of one benchmark of Django's asv
history (``DJANGO``, asv results v2, the raw samples of ``asv run --record-samples``),
read in place. The window is the noise, as CI measured it: runner-to-runner jitter, slow
runners, a pool of runners 15-50% faster mixed in late in the history, and commits
without data where the benchmark was not run. Steps are injected by multiplying every
sample from the step's commit on. The history may hold real changes of level of its own
(the machines, a real regression): nothing is done to pick quiet windows, so every
detection at a commit that is not an injected step counts as a false alarm or a false
positive (for asv as for histbench; bench/detection_vs_asv.py also scores the windows
counting only detections near an injected step). Windows are drawn only where the
benchmark has data on at least 90% of the window's commits. The benchmarks are split in
two halves by name (alternately in sorted order): ``part="tune"`` draws only from one,
``part="report"`` only from the other, so windows reported on were never looked at while
tuning, on top of having their own seeds. (The halves were measured on the same runs, so
their machine noise is alike: that is the point, and also why they are not independent.)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# The sample noise is the tests' own generator (tests/synthetic_noise.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthetic_noise import build_offsets, commit_samples, shape_level  # noqa: E402

SYNTHETIC_KINDS = ("gauss1%", "gauss3%", "lognormal", "outliers", "jitter", "drift")
OFFSET_KINDS = ("offsets-gauss", "offsets-t3", "offsets-noisy")
REAL_KINDS = ("real",)
MIN_GAP, MARGIN = 15, 10
MAX_STEP = 0.50
DJANGO = Path(os.environ.get("HISTBENCH_SHARED", "/work/shared")) / "data" \
    / "asv-results-django" / "results"


@dataclass
class History:
    kind: str
    samples: list[list[float]]
    steps: list[int]
    origin: str = ""  # where a real window comes from: benchmark@first commit (date order)

    @property
    def n(self) -> int:
        return len(self.samples)


def _step_positions(rng: np.random.Generator, n: int, count: int,
                    allowed: np.ndarray | None = None) -> list[int]:
    for _ in range(10_000):
        pos = sorted(int(p) for p in rng.integers(MARGIN, n - MARGIN + 1, count))
        if all(b - a >= MIN_GAP for a, b in zip(pos, pos[1:], strict=False)) and \
                (allowed is None or all(allowed[p] for p in pos)):
            return pos
    raise RuntimeError("no room for the steps")


def _step_factors(rng: np.random.Generator, count: int, smallest: float) -> list[float]:
    out = []
    for _ in range(count):
        m = float(np.exp(rng.uniform(np.log(smallest), np.log(MAX_STEP))))
        out.append(1 + m if rng.random() < 0.5 else 1 - m)
    return out


def make_history(rng: np.random.Generator, kind: str, with_steps: bool) -> History:
    """A synthetic or per-build-offset history (see the module docstring)."""
    n = int(rng.integers(100, 301))
    base = 10 ** rng.uniform(-5, -1)
    steps = _step_positions(rng, n, int(rng.integers(1, 4))) if with_steps else []
    level = np.full(n, base)
    for p, f in zip(steps, _step_factors(rng, len(steps), 0.03), strict=True):
        level[p:] *= f
    noise = kind
    if kind == "offsets-noisy":
        noise = SYNTHETIC_KINDS[int(rng.integers(len(SYNTHETIC_KINDS)))]
    level = shape_level(rng, level, noise)
    counts = rng.integers(8, 13, n)
    counts[rng.random(n) < 0.02] = 0
    for p in steps:  # the commits on both sides of a step have data: the truth is exact
        counts[p - 1 : p + 1] = np.maximum(counts[p - 1 : p + 1], 8)
    if kind in OFFSET_KINDS:
        tails = kind.split("-")[1]
        if tails == "noisy":
            tails = "t3" if rng.random() < 0.5 else "gauss"
        level *= build_offsets(rng, n, rng.uniform(0.005, 0.02), tails)
    if kind in OFFSET_KINDS and noise == kind:
        u = rng.uniform(0.001, 0.005)
        samples = [[float(v) for v in lev * (1 + rng.normal(0, u, int(k)))]
                   for lev, k in zip(level, counts, strict=True)]
    else:
        samples = [commit_samples(rng, lev, int(k), noise)
                   for lev, k in zip(level, counts, strict=True)]
    return History(kind, samples, steps)


@lru_cache(maxsize=2)
def django_series(results: Path = DJANGO) -> dict[str, list[list[float]]]:
    """Each benchmark's raw samples per commit, commits in date order ([] = no data)."""
    files = [p for p in sorted(results.glob("*/*.json")) if p.name != "machine.json"]
    docs = []
    for path in files:
        doc = json.loads(path.read_text())
        if isinstance(doc.get("results"), dict) and "date" in doc:
            docs.append(doc)
    docs.sort(key=lambda d: (d["date"], d.get("commit_hash", "")))
    names = sorted({name for d in docs for name in d["results"]})
    out: dict[str, list[list[float]]] = {name: [] for name in names}
    for doc in docs:
        cols = doc["result_columns"]
        at = cols.index("samples") if "samples" in cols else -1
        for name in names:
            row = doc["results"].get(name)
            samples: list[float] = []
            if row and at >= 0 and at < len(row) and row[at] and row[at][0]:
                samples = [float(v) for v in row[at][0]
                           if isinstance(v, (int, float)) and v > 0]
            out[name].append(samples)
    return out


def _windows(part: str, results: Path) -> list[tuple[str, int, int]]:
    """(benchmark, start, length) of every usable window of the ``part`` benchmarks."""
    series = django_series(results)
    names = sorted(series)[0 if part == "tune" else 1::2]
    out = []
    for name in names:
        has = np.asarray([bool(s) for s in series[name]], dtype=float)
        cum = np.concatenate(([0.0], np.cumsum(has)))
        for length in range(100, 301, 25):
            for start in range(0, has.size - length + 1, 5):
                if cum[start + length] - cum[start] >= 0.9 * length and has[start] \
                        and has[start + length - 1]:
                    out.append((name, start, length))
    return out


def make_real(rng: np.random.Generator, with_steps: bool, part: str,
              results: Path = DJANGO) -> History:
    """A window of a real history, with injected steps (see the module docstring)."""
    windows = _real_windows(part, results)
    name, start, n = windows[int(rng.integers(len(windows)))]
    samples = [list(s) for s in django_series(results)[name][start:start + n]]
    if not with_steps:
        return History("real", samples, [], f"{name}@{start}")
    has = np.asarray([bool(s) for s in samples])
    allowed = np.zeros(n, dtype=bool)
    allowed[1:] = has[1:] & has[:-1]
    steps = _step_positions(rng, n, int(rng.integers(1, 4)), allowed)
    factor = np.ones(n)
    for p, f in zip(steps, _step_factors(rng, len(steps), 0.05), strict=True):
        factor[p:] *= f
    samples = [[v * float(f) for v in s] for s, f in zip(samples, factor, strict=True)]
    return History("real", samples, steps, f"{name}@{start}")


@lru_cache(maxsize=4)
def _real_windows(part: str, results: Path) -> list[tuple[str, int, int]]:
    windows = _windows(part, results)
    if not windows:
        raise RuntimeError(f"no usable windows in {results}")
    return windows


def make_corpus(kinds: tuple[str, ...], histories: int, seed: int,
                part: str = "report") -> list[History]:
    """``histories`` with steps and as many without, per kind, for one seed."""
    out = []
    for kind in kinds:
        rng = np.random.default_rng([seed, sum(map(ord, kind))])
        for with_steps in (True, False):
            for _ in range(histories):
                if kind == "real":
                    out.append(make_real(rng, with_steps, part))
                else:
                    out.append(make_history(rng, kind, with_steps))
    return out
