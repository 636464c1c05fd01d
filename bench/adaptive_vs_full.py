"""`run --adaptive` against a full run and asv's `run --steps N`, on a 1,000-commit history
with 5 steps (3% to 50%; two 30 commits apart; one reverted 20 commits later: 6 changes).

Usage: python bench/adaptive_vs_full.py [--seeds S ...] [--per-commit SECONDS
       --per-call SECONDS] [--no-asv] [--real]

``--real`` adds a run on a real 1,000-commit toy git history (tests/toyrepo.py: the
project's ``compute`` does work proportional to the same levels): ``histbench run main
--adaptive --measure instructions -b time_compute``, measured for real and timed; its
steps are those ``histbench regressions`` reports on the instruction series. The full
run's wall time beside it is 1,000 x that run's own cost per measured commit (measuring
all 1,000 commits for real would take about an hour).

What is real and what is simulated:
- The planner (histbench/analysis/adaptive.py, the code `run --adaptive` runs between
  batches) runs for real, and its CPU time is counted in the adaptive wall time.
- The measurements are simulated: each probed commit gets 4 processes x 5 samples of
  Gaussian noise (1% per sample, tests/synthetic_noise.py) around the commit's true level,
  plus a per-process offset (0.3%); no per-build offsets (memory layout), under which
  neighbouring builds differ and the grid would bisect more.
- Wall time: a real calibration runs `histbench run` on a toy history (bench/toyrepo via
  tests/toyrepo.py) of 1 commit and of 4 commits; per commit = (t4 - t1) / 3, per Runner
  call = t1 - per commit. The full run costs per call + 1,000 x per commit; the adaptive
  run one per-call cost per batch of up to 8 commits (cli/adaptive_run.CHUNK) plus
  per commit x commits measured plus the planner's real CPU time. `--per-commit` and
  `--per-call` skip the calibration.
- asv `--steps N` is simulated as asv does it: N evenly spaced commits (N = the commits
  the adaptive run measured), each with the same simulated samples, fed to asv's own step
  detector (asv 0.6.6, as bench/detection_vs_asv.py feeds it). Its wall time is N x per
  commit (histbench's per-commit cost: asv's own is not measured here).
- The full run: every commit simulated, steps by histbench's detector (detect_steps).
- Growth: the same 6 changes placed at the same fractions of 100, 1,000 and 10,000
  commits (the revert 2% of the history later), adaptive planner run on each.

A step is found "exact" when a reported step's first bad commit is the true one; a
reported step at no true change is a false step (for asv `--steps`, a step reported at the
sampled commit after the change counts as false, and as "near").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from detection_vs_asv import ASV_SCRIPT, asv_python  # noqa: E402
from synthetic_noise import commit_samples  # noqa: E402

from histbench.analysis import adaptive  # noqa: E402
from histbench.analysis.steps import detect_steps  # noqa: E402
from histbench.cli.adaptive_run import CHUNK  # noqa: E402

N = 1000
# (commit, ratio): 5 steps, one of them (700) reverted 20 commits later
CHANGES = [(150, 1.03), (400, 1.5), (430, 0.8), (700, 1.2), (720, 1 / 1.2), (880, 1.05)]
TARGET_SHARE, TARGET_TIME = 0.08, 0.12


def levels(n: int, changes: list[tuple[int, float]]) -> np.ndarray:
    y = np.ones(n)
    for at, r in changes:
        y[at:] *= r
    return y


def sample(rng: np.random.Generator, level: float) -> list[list[float]]:
    return [commit_samples(rng, level * (1 + rng.normal(0, 0.003)), 5, "gauss1")
            for _ in range(4)]


def run_adaptive(n: int, changes: list[tuple[int, float]], seed: int):
    rng = np.random.default_rng(seed)
    y = levels(n, changes)
    samples: dict[int, list[list[float]]] = {}
    measured: set[int] = set()
    calls, planner = 0, 0.0
    while True:
        t = time.process_time()
        step = adaptive.plan(n, {"s": adaptive.SeriesData(samples)}, measured)
        planner += time.process_time() - t
        if step.done:
            return len(measured), calls, planner, [p.first_bad for p in step.pinned]
        calls += math.ceil(len(step.measure) / CHUNK)
        for i in step.measure:
            measured.add(i)
            samples[i] = sample(rng, y[i])


def full_samples(n: int, changes, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed + 1000)
    return [sum(sample(rng, v), []) for v in levels(n, changes)]


def asv_steps(histories: list[list[list[float]]]) -> list[list[int]]:
    out = subprocess.run([str(asv_python()), "-c", ASV_SCRIPT], input=json.dumps(histories),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def calibrate() -> tuple[float, float]:
    from toyrepo import ToyCommit, make_repo

    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with tempfile.TemporaryDirectory(prefix="histbench-adaptive-") as tmp:
        repo = Path(tmp) / "repo"
        hashes = make_repo(repo, [ToyCommit(work=20_000 + i) for i in range(6)],
                           bench_attrs={"rounds": 4, "repeat": 5, "warmup_time": 0.02})

        def timed(commits: list[str]) -> float:
            (Path(tmp) / "hashes").write_text("\n".join(commits) + "\n")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "histbench", "run", f"HASHFILE:{tmp}/hashes",
                            "--machine", "bench"], cwd=repo, check=True, capture_output=True,
                           env={**os.environ, **env})
            return time.perf_counter() - start

        timed(hashes[:1])  # the environment is made once, as a real history's is
        t1 = timed(hashes[1:2])
        t4 = timed(hashes[2:6])
    per_commit = max((t4 - t1) / 3, 0.01)
    return per_commit, max(t1 - per_commit, 0.0)


def score(found: list[int], truth: set[int]) -> tuple[int, int]:
    return len(truth & set(found)), len(set(found) - truth)


def near(found: list[int], truth: set[int], within: int) -> int:
    """True changes with a reported step at most ``within`` commits after them."""
    return sum(any(0 <= f - t <= within for f in found) for t in truth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--per-commit", type=float)
    parser.add_argument("--per-call", type=float)
    parser.add_argument("--no-asv", action="store_true")
    parser.add_argument("--real", action="store_true",
                        help="also run --adaptive for real on a 1,000-commit toy history")
    args = parser.parse_args(argv)
    if args.per_commit is None or args.per_call is None:
        per_commit, per_call = calibrate()
        how = "measured on a toy suite"
    else:
        per_commit, per_call, how = args.per_commit, args.per_call, "given"
    print(f"cost model ({how}): {per_commit:.2f} s per commit, "
          f"{per_call:.2f} s per Runner call")
    truth = {at for at, _ in CHANGES}
    rows = []
    ok = True
    for seed in args.seeds:
        count, calls, planner, found = run_adaptive(N, CHANGES, seed)
        wall_a = calls * per_call + count * per_commit + planner
        wall_f = per_call + N * per_commit
        samples = full_samples(N, CHANGES, seed)
        full = [s.index for s in detect_steps(samples)]
        exact_a, false_a = score(found, truth)
        exact_f, false_f = score(full, truth)
        rows.append((seed, "adaptive", count, wall_a, wall_a / wall_f, exact_a, false_a,
                     exact_a))
        rows.append((seed, "full", N, wall_f, 1.0, exact_f, false_f, exact_f))
        if not args.no_asv:
            picks = adaptive.grid_indices(N, count - 1)
            chosen = set(picks)
            sparse = [samples[i] if i in chosen else [] for i in range(N)]
            found_asv = asv_steps([sparse])[0]
            exact_s, false_s = score(found_asv, truth)
            rows.append((seed, f"asv --steps {len(picks)}", len(picks), len(picks) * per_commit,
                         len(picks) * per_commit / wall_f, exact_s, false_s,
                         near(found_asv, truth, adaptive.spacing(N, count - 1))))
        ok &= count <= TARGET_SHARE * N and exact_a == len(truth) and not false_a \
            and wall_a / wall_f <= TARGET_TIME
    print(f"\n{N} commits, {len(truth)} changes at {sorted(truth)}\n")
    print(f"{'seed':>4}  {'run':<16} {'measured':>8} {'wall s':>8} {'x full':>7} "
          f"{'exact':>7} {'false':>5} {'near':>6}")
    for seed, name, count, wall, ratio, exact, false, close in rows:
        print(f"{seed:>4}  {name:<16} {count:>8} {wall:>8.0f} {ratio:>7.3f} "
              f"{exact:>4}/{len(truth)} {false:>5} {close:>4}/{len(truth)}")
    print("exact: true changes found at their exact commit; false: reported steps at no "
          "true change;\nnear: true changes with a reported step within one sampling "
          "interval after them (asv's sparse commits)")
    print("\ngrowth with history length (adaptive, seed 1; changes at the same fractions):")
    print(f"{'commits':>8} {'measured':>8} {'share':>7} {'grid':>5} {'per change':>10} "
          f"{'log2(spacing)':>13} {'exact':>6}")
    for n in (100, 1000, 10000):
        changes = [(round(at * n / N), r) for at, r in CHANGES]
        count, _, _, found = run_adaptive(n, changes, 1)
        grid = len(adaptive.grid_indices(n))
        exact, _ = score(found, {at for at, _ in changes})
        print(f"{n:>8} {count:>8} {count / n:>7.1%} {grid:>5} "
              f"{(count - grid) / len(changes):>10.1f} "
              f"{math.log2(adaptive.spacing(n)):>13.1f} {exact:>3}/{len(changes)}")
    if args.real:
        ok &= real_history(truth)
    print(f"\ntargets (all 6 exact, no false step, <= {TARGET_SHARE:.0%} measured, "
          f"<= {TARGET_TIME}x wall): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def real_history(truth: set[int]) -> bool:
    """``run --adaptive`` for real on a toy git history with the same changes."""
    from toyrepo import ToyCommit, make_repo

    level = levels(N, CHANGES)
    with tempfile.TemporaryDirectory(prefix="histbench-adaptive-") as tmp:
        repo = Path(tmp) / "repo"
        start = time.perf_counter()
        hashes = make_repo(repo, [ToyCommit(work=round(20_000 * v)) for v in level],
                           config={"env_dir": str(Path(tmp) / "envs")})
        made = time.perf_counter() - start
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "histbench", "run", "main", "--adaptive",
                               "--measure", "instructions", "-b", "time_compute",
                               "--machine", "bench"], cwd=repo, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return False
        changes = json.loads(subprocess.run(
            [sys.executable, "-m", "histbench", "regressions", "--all", "--format", "json"],
            cwd=repo, env=env, capture_output=True, text=True, check=True).stdout)["changes"]
        measured = len(list((repo / "results" / "bench").glob("*-*.json")))
    index = {h: i for i, h in enumerate(hashes)}
    found = sorted(index[c["first_bad"]] for c in changes
                   if c["benchmark"].endswith("@instructions"))
    exact, false = score(found, truth)
    full = wall / measured * N
    print(f"\nreal toy history ({N} commits, made in {made:.0f} s), --measure instructions:")
    print(f"{'run':<22} {'measured':>8} {'wall s':>8} {'x full':>7} {'exact':>7} {'false':>5}")
    print(f"{'adaptive (real)':<22} {measured:>8} {wall:>8.0f} {wall / full:>7.3f} "
          f"{exact:>4}/{len(truth)} {false:>5}")
    print(f"{'full (1000 x its cost)':<22} {N:>8} {full:>8.0f} {1.0:>7.3f}")
    return measured <= TARGET_SHARE * N and exact == len(truth) and not false


if __name__ == "__main__":
    sys.exit(main())
