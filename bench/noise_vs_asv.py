"""Verdicts under a noisy neighbour: asv, histbench in time mode, histbench counting instructions.

Usage: python bench/noise_vs_asv.py [--seed S] [--pairs N] [--commits N] [--modes LIST]
                                    [--keep] [--no-asv]

A toy history (tests/toyrepo.py) of 45 commits, measured by each tool in turn while
bench/noise.py loads every core in random bursts (0.2-2 s busy, 0.2-2 s idle) for the
whole run. Two CPU-bound timing benchmarks:

- ``time_compute`` calls the project's function, whose work (loop iterations) steps at
  five commits, evenly spaced: +10% at commit 8, +1% at 15, +30% at 22, -3% at 30, -20%
  at 38; the stretches between are identical code (7 to 8 commits each);
- ``time_steady`` runs a fixed loop that no commit changes: any step found there is false.

The rows (``--modes``, default all, in this order):

- ``asv``: asv 0.6.6 (``asv run HASHFILE:...``, its own virtualenv as in the other bench
  scripts); its steps are those of ``asv.step_detect.detect_steps`` on the values and CI
  weights of its result files (what ``asv publish`` draws and picks regressions from); its
  verdict on a pair is ``asv compare A B`` (``+`` on any benchmark is a "regression");
- ``keep``: histbench in time mode without its disturbance rule (``histbench run
  --keep-disturbed``: every sample counts, no waiting out bursts);
- ``time``: histbench in time mode (``histbench run``);
- ``instructions``: histbench counting instructions under Valgrind (``histbench run
  --measure instructions``); its steps and verdicts are those on the
  ``time_x@instructions`` series (the ``@cycles`` series' steps are listed, not scored).

histbench's steps are ``histbench regressions --all`` (every detected step); its verdict
on a pair is ``histbench compare A B`` (time mode: exit 1 = "regression"; instruction
mode: a ``regression`` row for an ``@instructions`` series in ``--format json``).

Printed for each row: true steps found at their exact commit, for the >= 10% steps and
for the small (1%, 3%) ones; false steps per 100 commits (over both benchmarks:
detections at a commit with no true step, per 100 commits of one benchmark's history);
how many of N pairs of identical commits (same code, both ends inside one stretch) got a
"regression" verdict; the wall time of the tool's run per commit. Targets, time mode:
every step of >= 10% at its exact commit, 0 false steps, at most 1 false "regression" in
20 identical pairs. Instruction mode: every step of >= 1% at its exact commit, 0 false
steps, 0 false "regressions". Each row is held against both.

For the instruction row, the measured count ratio across each true step is printed too
(the medians of the two commits either side), against the work ratio.
"""

from __future__ import annotations

import argparse
import json
import os
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

ROOT = Path(__file__).resolve().parent.parent
WORK = 20_000
FACTORS = (1.10, 1.01, 1.30, 0.97, 0.80)  # the steps, in order, evenly spaced in the history
COMMITS = 45
BIG = 0.10  # a step of at least 10% is "big"; the others are the small 1% and 3%
MODES = ("asv", "keep", "time", "instructions")
COUNT = "@instructions"
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


@dataclass(frozen=True)
class History:
    """The toy history: how many commits, and at which the work steps by what factor."""

    commits: int

    @property
    def steps(self) -> dict[int, float]:
        n = len(FACTORS) + 1
        return {round(k * self.commits / n): f for k, f in enumerate(FACTORS, start=1)}

    @property
    def big(self) -> set[int]:
        return {c for c, f in self.steps.items() if abs(f - 1) >= BIG - 1e-9}

    @property
    def small(self) -> set[int]:
        return set(self.steps) - self.big

    def works(self) -> list[int]:
        levels, work = [], float(WORK)
        for i in range(self.commits):
            work *= self.steps.get(i, 1.0)
            levels.append(round(work))
        return levels

    def identical_pairs(self, n: int) -> list[tuple[int, int]]:
        """Pairs of commits with the same code: neighbours first, then wider pairs."""
        levels, last = self.works(), self.commits
        pairs = [(i, i + 1) for i in range(last - 1) if levels[i] == levels[i + 1]]
        pairs += [(i, i + 3) for i in range(last - 3) if len(set(levels[i:i + 4])) == 1]
        return pairs[:n]


@dataclass
class Verdicts:
    name: str
    targets: str  # "time" or "instructions": the targets this row is meant to meet
    steps: dict[str, list[int]] = field(default_factory=dict)  # benchmark -> commits
    regressions: int = 0
    pairs: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def found(self, history: History) -> tuple[int, int, int]:
        """(big steps found exactly, small steps found exactly, false steps)."""
        found = set(self.steps.get("time_compute", []))
        false = len(found - set(history.steps)) + len(self.steps.get("time_steady", []))
        return len(found & history.big), len(found & history.small), false

    def meets(self, history: History, which: str) -> bool:
        big, small, false = self.found(history)
        if which == "time":
            return big == len(history.big) and false == 0 and self.regressions <= 1
        return (big + small == len(history.steps) and false == 0
                and self.regressions == 0)


# -- histbench ---------------------------------------------------------------------------


def env() -> dict[str, str]:
    """histbench's subprocesses use this checkout's code, whatever is installed."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True, env=env())


def histbench_steps(repo: Path, machine: str, hashes: list[str]) -> dict[str, list[int]]:
    """Every step ``regressions --all`` finds, by benchmark (short name, with its series
    suffix: ``time_compute@instructions``)."""
    proc = histbench(repo, "regressions", "--all", "--machine", machine, "--format", "json")
    if proc.returncode not in (0, 1):
        sys.exit(f"histbench regressions exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    index = {h: i for i, h in enumerate(hashes)}
    steps: dict[str, list[int]] = {}
    for change in json.loads(proc.stdout)["changes"]:
        short = change["benchmark"].rsplit(".", 1)[-1]
        steps.setdefault(short, []).append(index[change["first_bad"]])
    return steps


def run_histbench(repo: Path, hashes: list[str], machine: str, extra: list[str],
                  pairs: list[tuple[int, int]], logs: Path) -> Verdicts:
    out = Verdicts(f"histbench{' ' + ' '.join(extra) if extra else ''}", "time")
    hashfile = logs / "hashes.txt"
    start = time.perf_counter()
    timed([sys.executable, "-m", "histbench", "run", f"HASHFILE:{hashfile}", "--machine",
           machine, *extra], repo, logs / f"histbench-{machine}.log", env=env(), ok=(0,))
    out.seconds = time.perf_counter() - start
    out.steps = histbench_steps(repo, machine, hashes)
    for a, b in pairs:
        proc = histbench(repo, "compare", hashes[a], hashes[b], "--machine", machine)
        out.pairs += 1
        if proc.returncode == 1:
            out.regressions += 1
            out.notes.append(f"false regression {a}->{b}: " + " ".join(
                ln.strip() for ln in proc.stdout.splitlines() if "regression" in ln))
    return out


def compare_rows(repo: Path, machine: str, a: str, b: str) -> list[dict]:
    """``histbench compare A B --format json``'s rows for the ``@instructions`` series."""
    proc = histbench(repo, "compare", a, b, "--machine", machine, "--format", "json")
    if proc.returncode not in (0, 1):
        sys.exit(f"histbench compare exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return [r for r in json.loads(proc.stdout)["rows"] if r["name"].endswith(COUNT)]


def run_instructions(repo: Path, hashes: list[str], history: History,
                     pairs: list[tuple[int, int]], logs: Path) -> Verdicts:
    machine = "instructions"
    out = Verdicts("histbench --measure instructions", "instructions")
    start = time.perf_counter()
    timed([sys.executable, "-m", "histbench", "run", f"HASHFILE:{logs / 'hashes.txt'}",
           "--machine", machine, "--measure", "instructions"], repo,
          logs / f"histbench-{machine}.log", env=env(), ok=(0,))
    out.seconds = time.perf_counter() - start
    every = histbench_steps(repo, machine, hashes)
    out.steps = {k.removesuffix(COUNT): v for k, v in every.items() if k.endswith(COUNT)}
    for name, found in sorted(every.items()):
        if name.endswith("@cycles"):
            out.notes.append(f"(not scored) steps on {name}: {sorted(found)}")
    moved = 0
    for a, b in pairs:
        rows = compare_rows(repo, machine, hashes[a], hashes[b])
        out.pairs += 1
        moved += any(r["verdict"] != "not significant" for r in rows)
        bad = [r for r in rows if r["verdict"] == "regression"]
        if bad:
            out.regressions += 1
            out.notes.append(f"false regression {a}->{b}: " + ", ".join(
                f"{r['name']} {r['b_median'] / r['a_median']:.5f}" for r in bad))
    out.notes.append(f"identical pairs with any verdict but 'not significant' on "
                     f"{COUNT}: {moved} / {out.pairs}")
    levels = history.works()
    for c, factor in history.steps.items():
        rows = [r for r in compare_rows(repo, machine, hashes[c - 1], hashes[c])
                if "time_compute" in r["name"]]
        for r in rows:
            out.notes.append(
                f"step at {c} (x{factor:g}, work {levels[c - 1]} -> {levels[c]}, ratio "
                f"{levels[c] / levels[c - 1]:.5f}): count ratio "
                f"{r['b_median'] / r['a_median']:.5f} ({r['a_median']:.0f} -> "
                f"{r['b_median']:.0f}), verdict {r['verdict']}")
    return out


# -- asv ---------------------------------------------------------------------------------


def run_asv(asv: Path, repo: Path, hashes: list[str], pairs: list[tuple[int, int]],
            logs: Path) -> Verdicts:
    out = Verdicts("asv 0.6.6", "time")
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
            out.notes.append(f"false regression {a}->{b}: {marked[0].strip()}")
    return out


# -- report ------------------------------------------------------------------------------


def report(rows: list[Verdicts], history: History) -> None:
    header = ["tool", ">=10% steps exact", "1-3% steps exact", "false steps /100",
              "false regressions", "run s", "s / commit", "time targets", "count targets"]
    table = [header]
    yes = {True: "met", False: "MISSED"}
    for v in rows:
        big, small, false = v.found(history)
        table.append([v.name, f"{big} / {len(history.big)}", f"{small} / {len(history.small)}",
                      f"{100 * false / (2 * history.commits):.1f}",
                      f"{v.regressions} / {v.pairs}", f"{v.seconds:.0f}",
                      f"{v.seconds / history.commits:.1f}", yes[v.meets(history, 'time')],
                      yes[v.meets(history, 'instructions')]])
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\ntargets: time: every >= 10% step at its exact commit, 0 false steps, <= 1 false"
          " regression in 20 identical pairs;\n         count (instruction mode): every step"
          " (>= 1%) at its exact commit, 0 false steps, 0 false regressions")
    print(f"{history.commits} commits; true steps: "
          f"{', '.join(f'commit {c} x{f:g}' for c, f in history.steps.items())}")
    for v in rows:
        found = ", ".join(f"{k}: {sorted(s)}" for k, s in sorted(v.steps.items()))
        print(f"{v.name}: steps found {found or 'none'}")
        for note in v.notes:
            print(f"  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the injector's schedule (1)")
    parser.add_argument("--pairs", type=int, default=20, help="identical pairs (20)")
    parser.add_argument("--commits", type=int, default=COMMITS,
                        help=f"commits in the history, at least 18 ({COMMITS})")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"the rows to run, comma-separated ({','.join(MODES)})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-asv", action="store_true", help="leave asv out")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        parser.error(f"--modes: {', '.join(sorted(unknown)) or 'none'} "
                     f"(choose from {', '.join(MODES)})")
    if args.no_asv and "asv" in modes:
        modes.remove("asv")
    if args.commits < 18:
        parser.error("--commits: at least 18 (3 commits per stretch, as the detectors need)")
    history = History(args.commits)
    with scratch("histbench-noise-", args.keep) as tmp:
        repo, logs = tmp / "toy", tmp / "logs"
        logs.mkdir()
        hashes = make_repo(repo, [ToyCommit(work=w) for w in history.works()], asv=True)
        bench_file = repo / "benchmarks" / "bench_toy.py"
        bench_file.write_text(bench_file.read_text() + STEADY)
        (logs / "hashes.txt").write_text("\n".join(hashes) + "\n")
        pairs = history.identical_pairs(args.pairs)
        asv = ensure_asv_venv(ASV_VENV) if "asv" in modes else None
        rows = []
        print(f"toy repo {repo}; noise seed {args.seed}; rows {', '.join(modes)}",
              file=sys.stderr)
        with AsvMachineFile(), Injector(6 * 3600, seed=args.seed):
            for mode in MODES:
                if mode not in modes:
                    continue
                print(f"{mode} ...", file=sys.stderr)
                if mode == "asv" and asv is not None:
                    rows.append(run_asv(asv, repo, hashes, pairs, logs))
                elif mode == "keep":
                    rows.append(run_histbench(repo, hashes, "before", ["--keep-disturbed"],
                                              pairs, logs))
                elif mode == "time":
                    rows.append(run_histbench(repo, hashes, "now", [], pairs, logs))
                elif mode == "instructions":
                    rows.append(run_instructions(repo, hashes, history, pairs, logs))
        report(rows, history)
    return 0


if __name__ == "__main__":
    sys.exit(main())
