"""Step detection, histbench against asv, on labelled corpora of three kinds.

Usage: python bench/detection_vs_asv.py [--histories N] [--seeds S ...] [--tune] [--no-asv]
       [--kinds synthetic offsets real]

The corpora (``bench/detection_corpora.py``, deterministic for a seed; its docstring
describes them) are, for each seed, N histories with steps and N without per noise kind:

- ``synthetic``: six sample noises (gaussian 1% and 3%, lognormal, outlier samples, commit
  jitter, slow drift), steps of 3-50%;
- ``offsets``: per-build offsets (each commit's level times its own 1 + N(0, 0.5%..2%),
  gaussian or Student-t(3) tails; samples of a commit agree to 0.1-0.5%, or, in
  ``offsets-noisy``, carry one of the synthetic noises), steps of 3-50%;
- ``real``: windows of 100-300 commits of Django's asv history (read in place from
  /work/shared), steps of 5-50% injected; any detection off an injected step counts as an
  error (no quiet windows are picked: see detection_corpora).

Tuned and held-out seeds: the detector's constants were tuned on seeds ``TUNE_SEEDS``
(with ``--tune``; real windows from one half of Django's benchmarks). By default the
script reports on seeds ``REPORT_SEEDS`` with real windows from the other half of the
benchmarks, which were not looked at while tuning.

Scoring: a detection is a true positive only if its index is exactly the commit where
the true step starts (each true step matched at most once). Precision, recall and F1
are over the histories with steps; false alarms per 100 commits and the share of
histories with any false alarm ("FWER") are over the histories without.

The real windows are scored twice. Row ``real``: strictly, every detection off an
injected step is a false positive, though many are the history's own changes of level:
Django's CI level moved by 1-3% at a few commits for nearly every benchmark at once
(the machines, most likely), and late in the history runners 15-50% faster take a share
of the commits that changes for tens of commits at a time. One benchmark's history
cannot tell those from a change of the code. Row ``real, injected``:
only detections within ``NEAR`` (3) commits of an injected step count (a near miss is
still a false positive, a detection elsewhere is left out): how well injected steps are
placed. The false-alarm columns are the same in both rows: every detection in a window
without injected steps counts.

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
``pip install asv==0.6.6`` when missing), by subprocess, JSON in and out.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection_corpora import (  # noqa: E402
    OFFSET_KINDS,
    REAL_KINDS,
    SYNTHETIC_KINDS,
    History,
    make_corpus,
)

from histbench.analysis.steps import detect_steps  # noqa: E402

ASV_VENV = Path(tempfile.gettempdir()) / "histbench-bench-asv-venv"
GROUPS = {"synthetic": SYNTHETIC_KINDS, "offsets": OFFSET_KINDS, "real": REAL_KINDS}
TUNE_SEEDS = (1, 2, 3)
REPORT_SEEDS = (101, 102, 103)
TARGET_F1 = {"synthetic": 0.95, "offsets": 0.85, "real": 0.80}
TARGET_FALSE_ALARMS = 0.1
TIME_LIMIT = 1.0

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


def run_histbench(corpus: list[History]) -> tuple[list[list[int]], float]:
    start = time.perf_counter()
    found = [[s.index for s in detect_steps(h.samples)] for h in corpus]
    return found, time.perf_counter() - start


def asv_python() -> Path:
    python = ASV_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {ASV_VENV} with asv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(ASV_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "asv==0.6.6"], check=True)
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
    near: int | None = None  # count only detections this close to a true step, if set

    def add(self, history: History, found: list[int]) -> None:
        if history.steps:
            if self.near is not None:
                found = [f for f in found if min(abs(f - t) for t in history.steps)
                         <= self.near]
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


INJECTED = "real, injected"
NEAR = 3


def rows(groups: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Table rows: each noise kind, then its group's total where it has several; for the
    real histories also the row that only counts detections near an injected step."""
    out = []
    for group in groups:
        kinds = GROUPS[group]
        out += [(kind, (kind,)) for kind in kinds]
        if len(kinds) > 1:
            out.append((f"{group} (all)", kinds))
        if group == "real":
            out.append((INJECTED, kinds))
    return out


def score(corpus: list[History], found: list[list[int]],
          groups: list[str]) -> dict[str, Score]:
    scores = {label: Score(near=NEAR if label == INJECTED else None)
              for label, _ in rows(groups)}
    for history, f in zip(corpus, found, strict=True):
        for label, kinds in rows(groups):
            if history.kind in kinds:
                scores[label].add(history, f)
    return scores


def group_label(group: str) -> str:
    kinds = GROUPS[group]
    return kinds[0] if len(kinds) == 1 else f"{group} (all)"


def print_table(results: dict[str, dict[str, Score]], groups: list[str]) -> None:
    print(f"{'noise':<16} {'tool':<10} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'false alarms/100 commits':>25} {'FWER':>6}")
    for label, _ in rows(groups):
        for tool, scores in results.items():
            s = scores[label]
            print(f"{label:<16} {tool:<10} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} "
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
    parser.add_argument("--histories", type=int, default=50,
                        help="histories per noise kind and seed, with and without steps (each)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help=f"default: {REPORT_SEEDS} (held out), with --tune {TUNE_SEEDS}")
    parser.add_argument("--tune", action="store_true",
                        help="the tuning seeds and the tuning half of the real benchmarks")
    parser.add_argument("--kinds", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    parser.add_argument("--no-asv", action="store_true", help="histbench only")
    args = parser.parse_args(argv)

    part = "tune" if args.tune else "report"
    seeds = args.seeds or (TUNE_SEEDS if args.tune else REPORT_SEEDS)
    held_out = not set(seeds) & set(TUNE_SEEDS) and part == "report"
    kinds = tuple(k for g in args.kinds for k in GROUPS[g])
    corpus = [h for seed in seeds for h in make_corpus(kinds, args.histories, seed, part)]
    commits = sum(h.n for h in corpus)
    steps = sum(len(h.steps) for h in corpus)
    print(f"seeds {list(seeds)}, real windows from the {part} half of the benchmarks: "
          f"{'held out (not tuned on)' if held_out else 'TUNED ON'}; tuned on seeds "
          f"{list(TUNE_SEEDS)} and the tune half")
    print(f"corpus: {len(corpus)} histories, {commits} commits, {steps} true steps")
    found, hb_time = run_histbench(corpus)
    results = {"histbench": score(corpus, found, args.kinds)}
    print(f"histbench: {hb_time:.1f} s for the corpus")
    if not args.no_asv:
        asv_found, asv_time = run_asv(corpus)
        results["asv"] = score(corpus, asv_found, args.kinds)
        print(f"asv: {asv_time:.1f} s for the corpus (2 processes)")
    print()
    print_table(results, args.kinds)
    print()
    long_time = time_long_history(seeds[0])

    hb = results["histbench"]
    ok = long_time < TIME_LIMIT
    print(f"targets for histbench (F1 at the exact commit, false alarms <= "
          f"{TARGET_FALSE_ALARMS}/100 commits, 10,000 commits < {TIME_LIMIT:g} s):")
    for group in args.kinds:
        labels = [group_label(group)] + ([INJECTED] if group == "real" else [])
        for label in labels:
            s = hb[label]
            met = s.f1 >= TARGET_F1[group] and s.per_100 <= TARGET_FALSE_ALARMS
            ok = ok and met
            print(f"  {label:<16} F1 {s.f1:.3f} (>= {TARGET_F1[group]}), false alarms "
                  f"{s.per_100:.3f}/100 commits: {'met' if met else 'NOT met'}")
    print(f"  10,000 commits: {long_time:.3f} s: {'met' if long_time < TIME_LIMIT else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
