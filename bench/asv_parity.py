"""Do histbench and asv measure the same thing? Per benchmark, the ratio of their medians.

Usage: python bench/asv_parity.py [--commits N] [--keep]

One toy history (tests/toyrepo.py) and one suite, measured by asv (its own virtualenv, as
in history_vs_asv.py) and by histbench, both with their *default* timing settings: no
``number``, ``repeat`` or ``warmup_time`` in the suite, so each tool calibrates as it
would for a user. The suite has what made the two disagree before: microsecond calls
whose ``setup`` builds a fixture the call consumes (asv re-runs setup before every timed
call then, and so must histbench), a parameterised benchmark, a class with setup, and a
plain loop for reference.

Interleaving, so that a slow spell of the machine lands on both tools alike: commit by
commit, asv then histbench on even commits, histbench then asv on odd ones, each run
measuring that one commit (``asv run SHA^!``, ``histbench run SHA``).

Prints, for every benchmark and parameter set, asv's median, histbench's, and their
ratio; then the geometric mean of the ratios and the worst one. Target (on a quiet
machine): geometric mean within 0.9-1.1 and every ratio within 0.75-1.33.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from history_vs_asv import ASV_MACHINE, ASV_VENV, AsvMachineFile, ensure_asv_venv, scratch, timed
from toyrepo import ToyCommit, make_repo

MACHINE = "parity"

SUITE = textwrap.dedent("""\
    import toypkg


    def time_plain():
        toypkg.compute(2_000)


    class Consume:
        \"\"\"The call empties the fixture that setup made: timed on a fresh one, or on
        an empty one (the old difference).\"\"\"

        def setup(self):
            self.items = list(range(300))

        def time_pop_all(self):
            items = self.items
            while items:
                items.pop()


    class Sized:
        params = [[100, 1_000], ["list", "set"]]
        param_names = ["n", "kind"]

        def setup(self, n, kind):
            self.data = list(range(n)) if kind == "list" else set(range(n))

        def time_sum(self, n, kind):
            sum(self.data)

        def time_discard_all(self, n, kind):
            data = self.data
            if kind == "set":
                for i in range(n):
                    data.discard(i)
            else:
                data.clear()


    def time_small_dict():
        {i: i for i in range(50)}
    """)


def make_toy(repo: Path, n: int) -> list[str]:
    hashes = make_repo(repo, [ToyCommit(work=10_000 + 500 * i) for i in range(n)], asv=True)
    (repo / "benchmarks" / "bench_parity.py").write_text(SUITE)
    return hashes


def asv_medians(results_dir: Path) -> dict[tuple[str, str, str], float]:
    """(commit, benchmark, params label) -> median, from asv's result files."""
    out = {}
    bench_meta = json.loads((results_dir.parent / "benchmarks.json").read_text())
    for path in results_dir.glob("*.json"):
        data = json.loads(path.read_text())
        if "commit_hash" not in data:
            continue
        columns = data["result_columns"]
        for name, row in data["results"].items():
            entry = dict(zip(columns, row, strict=False))
            params = bench_meta.get(name, {}).get("params") or []
            combos = _labels(params)
            for label, value in zip(combos, entry.get("result") or [], strict=False):
                if isinstance(value, (int, float)) and math.isfinite(value):
                    out[(data["commit_hash"], name, label)] = float(value)
    return out


def histbench_medians(results_dir: Path) -> dict[tuple[str, str, str], float]:
    out = {}
    for path in results_dir.glob("*.json"):
        data = json.loads(path.read_text())
        if data.get("schema") != "histbench-results":
            continue
        for r in data["results"]:
            if r.get("status") == "ok" and r.get("stats"):
                label = ", ".join(r.get("params", {}).values())
                out[(data["commit"]["hash"], r["name"], label)] = r["stats"]["median"]
    return out


def _labels(params: list[list[str]]) -> list[str]:
    import itertools

    if not params:
        return [""]
    return [", ".join(combo) for combo in itertools.product(*params)]


def measure(asv: Path, repo: Path, hashes: list[str], logs: Path) -> None:
    for i, sha in enumerate(hashes):
        runs = [("asv", [str(asv), "run", f"{sha}^!", "--machine", ASV_MACHINE]),
                ("histbench", [sys.executable, "-m", "histbench", "run", sha,
                               "--machine", MACHINE])]
        for tool, cmd in (runs if i % 2 == 0 else runs[::-1]):
            print(f"{tool} on {sha[:8]} ...", file=sys.stderr)
            timed(cmd, repo, logs / f"{tool}-{i}.log")


def report(asv: dict, mine: dict) -> int:
    by_key: dict[tuple[str, str], list[float]] = {}
    for key, value in asv.items():
        timed = key[1].rsplit(".", 1)[-1].startswith("time_")  # track_ values: not times
        if timed and key in mine and value > 0 and mine[key] > 0:
            by_key.setdefault(key[1:], []).append(math.log(mine[key] / value))
    if not by_key:
        print("no benchmark measured by both tools")
        return 1
    print(f"{'benchmark':58s} {'params':14s} {'asv':>10s} {'histbench':>10s} {'ratio':>6s}")
    logs = []
    for (name, label), ratios in sorted(by_key.items()):
        ratio = math.exp(sum(ratios) / len(ratios))
        logs.append(math.log(ratio))
        a = _geo([v for k, v in asv.items() if k[1:] == (name, label)])
        h = _geo([v for k, v in mine.items() if k[1:] == (name, label)])
        print(f"{name[-58:]:58s} {label[:14]:14s} {a * 1e6:8.2f}µs {h * 1e6:8.2f}µs "
              f"{ratio:6.3f}")
    geo = math.exp(sum(logs) / len(logs))
    worst = max(logs, key=abs)
    print(f"\ngeometric mean histbench/asv: {geo:.3f} over {len(logs)} benchmark/parameter "
          f"sets (target 0.9-1.1); worst {math.exp(worst):.3f} (target 0.75-1.33)")
    inside = 0.9 <= geo <= 1.1 and all(0.75 <= math.exp(v) <= 1.33 for v in logs)
    print("within target" if inside else "OUTSIDE the target")
    return 0


def _geo(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    asv = ensure_asv_venv(ASV_VENV)
    with scratch("histbench-parity-", args.keep) as tmp, AsvMachineFile():
        repo, logs = tmp / "repo", tmp / "logs"
        logs.mkdir()
        hashes = make_toy(repo, args.commits)
        timed([str(asv), "machine", "--yes", "--machine", ASV_MACHINE], repo,
              logs / "asv-machine.log")
        measure(asv, repo, hashes, logs)
        shutil.copytree(repo / ".asv" / "results", tmp / "asv-results")
        return report(asv_medians(repo / ".asv" / "results" / ASV_MACHINE),
                      histbench_medians(repo / "results" / MACHINE))


if __name__ == "__main__":
    sys.exit(main())
