"""Verdicts under a noisy neighbour: asv, histbench without its disturbance rule, histbench.

Usage: python bench/noise_vs_asv.py [--seed S] [--pairs N] [--keep] [--no-asv]

A toy history (tests/toyrepo.py) of 30 commits, measured by each tool in turn while
bench/noise.py loads every core in random bursts (0.2-2 s busy, 0.2-2 s idle) for the
whole run. Two CPU-bound timing benchmarks:

- ``time_compute`` calls the project's function, whose work steps at three commits:
  +10% at commit 8, +30% at commit 15, -20% at commit 23; the stretches between are
  identical code (7 to 8 commits each);
- ``time_steady`` runs a fixed loop that no commit changes: any step found there is false.

The tools, each with its defaults:

- asv 0.6.6 (``asv run HASHFILE:...``, its own virtualenv as in the other bench scripts);
  its steps are those of ``asv.step_detect.detect_steps`` on the values and CI weights of
  its result files (what ``asv publish`` draws and picks regressions from); its verdict
  on a pair is ``asv compare A B`` (``+`` on any benchmark is a "regression");
- histbench before this change's rule (``histbench run --keep-disturbed``: every sample
  counts, no waiting out bursts);
- histbench now (``histbench run``).

histbench's steps are ``histbench regressions --all`` (every detected step), its verdict
on a pair is ``histbench compare A B`` (exit 1 = "regression").

Printed for each: exact-commit precision and recall over the 3 true steps, false steps per
100 commits (over both benchmarks: detections at a commit with no true step, per 100
commits of one benchmark's history), and how many of N pairs of identical commits
(same code, both ends inside one stretch) got a "regression" verdict. Targets for
histbench now: every step of >= 10% at its exact commit, 0 false steps, at most 1 false
"regression" in 20 identical pairs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Test helpers (the toy history, the noisy neighbour) live under tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from history_vs_asv import ASV_VENV, AsvMachineFile, ensure_asv_venv, scratch, timed
from noisy_neighbour import Injector
from toyrepo import ToyCommit, make_repo

WORK = 20_000
STEPS = {8: 1.10, 15: 1.30, 23: 0.80}  # commit index -> factor on the previous level
COMMITS = 30
STEADY = """

def time_steady():
    total = 0
    for i in range(20_000):
        total += i % 7
"""
ASV_STEPS = r"""
import json, sys
from asv import step_detect
from asv._stats import get_weight
out = []
for series in json.load(sys.stdin):
    y = [p[0] for p in series]
    w = [get_weight({"ci_99_a": p[1], "ci_99_b": p[2]}) if p[0] is not None else None
         for p in series]
    out.append([left for left, _r, _v, _m, _e in step_detect.detect_steps(y, w)[1:]])
json.dump(out, sys.stdout)
"""


def works() -> list[int]:
    levels, work = [], float(WORK)
    for i in range(COMMITS):
        work *= STEPS.get(i, 1.0)
        levels.append(round(work))
    return levels


def identical_pairs(n: int) -> list[tuple[int, int]]:
    """Pairs of commits with the same code: neighbours first, then wider pairs."""
    levels = works()
    pairs = [(i, i + 1) for i in range(COMMITS - 1) if levels[i] == levels[i + 1]]
    pairs += [(i, i + 3) for i in range(COMMITS - 3) if len(set(levels[i:i + 4])) == 1]
    return pairs[:n]


@dataclass
class Verdicts:
    name: str
    steps: dict[str, list[int]] = field(default_factory=dict)  # benchmark -> commits
    regressions: int = 0
    pairs: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def score(self) -> tuple[float, float, float]:
        true = set(STEPS)
        found = set(self.steps.get("time_compute", []))
        tp = len(found & true)
        fp = len(found - true) + len(self.steps.get("time_steady", []))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(true)
        return precision, recall, 100 * fp / (2 * COMMITS)


# -- histbench ---------------------------------------------------------------------------


def histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True)


def run_histbench(repo: Path, hashes: list[str], machine: str, extra: list[str],
                  pairs: list[tuple[int, int]], logs: Path) -> Verdicts:
    out = Verdicts(f"histbench{' ' + ' '.join(extra) if extra else ''}")
    hashfile = logs / "hashes.txt"
    start = time.perf_counter()
    timed([sys.executable, "-m", "histbench", "run", f"HASHFILE:{hashfile}", "--machine",
           machine, *extra], repo, logs / f"histbench-{machine}.log", ok=(0,))
    out.seconds = time.perf_counter() - start
    proc = histbench(repo, "regressions", "--all", "--machine", machine, "--format", "json")
    index = {h: i for i, h in enumerate(hashes)}
    for change in json.loads(proc.stdout)["changes"]:
        short = change["benchmark"].rsplit(".", 1)[-1]
        out.steps.setdefault(short, []).append(index[change["first_bad"]])
    for a, b in pairs:
        proc = histbench(repo, "compare", hashes[a], hashes[b], "--machine", machine)
        out.pairs += 1
        if proc.returncode == 1:
            out.regressions += 1
            out.notes.append(f"{a}->{b}: " + " ".join(
                ln.strip() for ln in proc.stdout.splitlines() if "regression" in ln))
    return out


# -- asv ---------------------------------------------------------------------------------


def run_asv(asv: Path, repo: Path, hashes: list[str], pairs: list[tuple[int, int]],
            logs: Path) -> Verdicts:
    out = Verdicts("asv 0.6.6")
    machine = "noise-bench"
    timed([str(asv), "machine", "--machine", machine, "--yes"], repo, logs / "asv-m.log")
    start = time.perf_counter()
    timed([str(asv), "run", f"HASHFILE:{logs / 'hashes.txt'}", "--machine", machine],
          repo, logs / "asv-run.log")
    out.seconds = time.perf_counter() - start
    series: dict[str, list[list[float | None]]] = {}
    folder = repo / ".asv" / "results" / machine
    by_commit = {}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        if "commit_hash" in data:
            by_commit[data["commit_hash"]] = data
    for name in ("time_compute", "time_steady"):
        points = []
        for h in hashes:
            data = by_commit.get(h)
            row = data and data["results"].get(f"bench_toy.{name}")
            if not row:
                points.append([None, None, None])
                continue
            cols = dict(zip(data["result_columns"], row, strict=False))
            points.append([cols["result"][0], (cols.get("stats_ci_99_a") or [None])[0],
                           (cols.get("stats_ci_99_b") or [None])[0]])
        series[name] = points
    python = ASV_VENV / "bin" / "python"
    proc = subprocess.run([str(python), "-c", ASV_STEPS], input=json.dumps(list(
        series.values())), capture_output=True, text=True, check=True)
    for name, found in zip(series, json.loads(proc.stdout), strict=True):
        out.steps[name] = found
    for a, b in pairs:
        proc = subprocess.run([str(asv), "compare", hashes[a], hashes[b], "--machine",
                               machine, "--factor", "1.1"], cwd=repo, capture_output=True,
                              text=True)
        out.pairs += 1
        marked = [ln for ln in proc.stdout.splitlines()
                  if ln.startswith("|") and ln.split("|")[1].strip() == "+"]
        if marked:
            out.regressions += 1
            out.notes.append(f"{a}->{b}: {marked[0].strip()}")
    return out


# -- report ------------------------------------------------------------------------------


def report(rows: list[Verdicts]) -> None:
    header = ["tool", "precision", "recall", "false steps /100", "false regressions",
              "run s"]
    table = [header]
    for v in rows:
        p, r, f = v.score()
        table.append([v.name, f"{p:.2f}", f"{r:.2f}", f"{f:.1f}",
                      f"{v.regressions} / {v.pairs}", f"{v.seconds:.0f}"])
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ntrue steps: {', '.join(f'commit {c} x{f:g}' for c, f in STEPS.items())}")
    for v in rows:
        found = ", ".join(f"{k}: {sorted(s)}" for k, s in sorted(v.steps.items()))
        print(f"{v.name}: steps found {found or 'none'}")
        for note in v.notes:
            print(f"  false regression {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the injector's schedule (1)")
    parser.add_argument("--pairs", type=int, default=20, help="identical pairs (20)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-asv", action="store_true", help="leave asv out")
    args = parser.parse_args(argv)
    with scratch("histbench-noise-", args.keep) as tmp:
        repo, logs = tmp / "toy", tmp / "logs"
        logs.mkdir()
        hashes = make_repo(repo, [ToyCommit(work=w) for w in works()], asv=True)
        bench_file = repo / "benchmarks" / "bench_toy.py"
        bench_file.write_text(bench_file.read_text() + STEADY)
        (logs / "hashes.txt").write_text("\n".join(hashes) + "\n")
        pairs = identical_pairs(args.pairs)
        asv = None if args.no_asv else ensure_asv_venv(ASV_VENV)
        rows = []
        print(f"toy repo {repo}; noise seed {args.seed}", file=sys.stderr)
        with AsvMachineFile(), Injector(6 * 3600, seed=args.seed):
            if asv is not None:
                print("asv ...", file=sys.stderr)
                rows.append(run_asv(asv, repo, hashes, pairs, logs))
            print("histbench --keep-disturbed ...", file=sys.stderr)
            rows.append(run_histbench(repo, hashes, "before", ["--keep-disturbed"], pairs,
                                      logs))
            print("histbench ...", file=sys.stderr)
            rows.append(run_histbench(repo, hashes, "now", [], pairs, logs))
        report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
