"""Wall time of histbench and asv benchmarking the same toy git history, side by side.

Usage: python bench/history_vs_asv.py [--commits N] [--keep]

Builds a toy repository (tests/toyrepo.py) with N + 1 commits and has both tools measure
the range ``main~N..main`` (both read it with ``git rev-list --first-parent``, so both
measure the same N commits), first cold (no environments yet) and then warm
(environments and build caches kept, results removed). Prints the wall times and the
ratio histbench/asv; the target is 0.5 or less.

Why the comparison is fair:

- Same commits: one repository, one range; afterwards the commit hashes found in each
  tool's result files are compared with the expected list and printed.
- Same benchmarks, same samples: the suite sets ``rounds``, ``repeat`` (an int, which asv
  reads as exactly that many samples per process, not as a time budget), ``number``
  (so neither tool calibrates) and ``warmup_time`` at module level, which both tools
  honour. asv runs with ``--record-samples`` so that its samples can be counted; the
  samples per commit of each tool, and the seconds spent inside the timed samples
  (sample x number, the floor neither tool can go under), are printed from the result
  files.
- Same interpreter and the same package sources: both create their environments from the
  same Python and install from the same pip configuration and cache. asv runs from its
  own virtualenv (cached in /tmp/histbench-bench-asv-venv), histbench from this one.
- Same caching: asv's ``build_cache_size`` is raised to hold every commit of the run, as
  histbench's default wheel cache (50 commits) does, so the warm runs may reuse the
  builds of the cold ones in both tools (asv's default of 2 would rebuild nearly every
  commit in its warm run).
- The order alternates (asv cold, histbench cold, asv warm, histbench warm), so neither
  tool alone profits from a warmed page cache or pip cache.

Known asymmetry, against histbench: asv runs a ``track_`` benchmark in one process
whatever ``rounds`` says, histbench in ``rounds`` processes (the sample counts show it).

asv's machine file is ~/.asv-machine.json; it is restored (or removed) on exit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Test helpers (the toy history, the noisy neighbour) live under tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from toyrepo import ToyCommit, make_repo

ASV_VENV = Path(tempfile.gettempdir()) / "histbench-bench-asv-venv"
MACHINE = "bench"
ASV_MACHINE = "histbench-bench"
BENCH_ATTRS = {"rounds": 2, "repeat": 5, "number": 100, "warmup_time": 0.1}
TARGET = 0.5


@dataclass
class Measured:
    """What a tool's result files say it measured."""

    commits: set[str] = field(default_factory=set)
    samples: dict[str, set[int]] = field(default_factory=dict)  # benchmark -> per commit
    timed_seconds: float = 0.0
    build_seconds: float = 0.0

    def add(self, bench: str, n: int) -> None:
        self.samples.setdefault(bench, set()).add(n)

    def samples_text(self) -> str:
        parts = []
        for bench, counts in sorted(self.samples.items()):
            shown = "/".join(str(c) for c in sorted(counts))
            parts.append(f"{bench.rsplit('.', 1)[-1]} {shown}")
        return ", ".join(parts)


@dataclass
class Tool:
    name: str
    cold: float = 0.0
    warm: float = 0.0
    measured_cold: Measured = field(default_factory=Measured)
    measured_warm: Measured = field(default_factory=Measured)


# -- running ----------------------------------------------------------------------------------


def timed(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None,
          ok: tuple[int, ...] = (0,)) -> float:
    """Run ``cmd`` with its output to ``log``; the wall seconds it took. Exits on failure."""
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    if proc.returncode not in ok:
        tail = log.read_text(errors="replace")[-3000:]
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode} (log {log}):\n{tail}")
    return seconds


def ensure_asv_venv(venv: Path) -> Path:
    """A virtualenv with asv and virtualenv, reused while it works; the asv command."""
    asv = venv / "bin" / "asv"
    python = venv / "bin" / "python"

    def works() -> bool:
        try:
            subprocess.run([str(asv), "--version"], check=True, capture_output=True)
            subprocess.run([str(python), "-c", "import virtualenv"], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    if not works():
        print(f"creating {venv} with asv and virtualenv ...", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "asv", "virtualenv"],
                       check=True)
        if not works():
            sys.exit(f"{asv} --version fails after installing asv")
    version = subprocess.run([str(asv), "--version"], capture_output=True, text=True)
    print(f"using {version.stdout.strip()} from {venv}", file=sys.stderr)
    return asv


def make_toy(repo: Path, n: int) -> list[str]:
    """N + 1 commits whose work varies; returns the N hashes of ``main~N..main``."""
    commits = [ToyCommit(work=10_000 + 1_000 * i) for i in range(n + 1)]
    hashes = make_repo(repo, commits, asv=True, bench_attrs=BENCH_ATTRS)
    conf_path = repo / "asv.conf.json"
    conf = json.loads(conf_path.read_text())
    conf["build_cache_size"] = n + 1  # keep every build, as histbench's wheel cache does
    conf_path.write_text(json.dumps(conf, indent=2))
    return hashes[1:]


# -- reading results --------------------------------------------------------------------------


def read_asv(results_dir: Path) -> Measured:
    found = Measured()
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if "commit_hash" not in data:
            continue  # machine.json
        found.commits.add(data["commit_hash"])
        columns = data["result_columns"]
        for bench, row in data["results"].items():
            entry = dict(zip(columns, row, strict=False))
            samples = entry.get("samples")
            if samples:
                found.add(bench, sum(len(s) for s in samples if s))
                numbers = entry.get("stats_number") or []
                for per_param, number in zip(samples, numbers, strict=False):
                    found.timed_seconds += sum(per_param or []) * (number or 1)
            else:  # track_ and the like: one value, no samples kept
                found.add(bench, 1 if entry.get("result") is not None else 0)
        found.build_seconds += data.get("durations", {}).get("<build>", 0.0)
    return found


def read_histbench(results_dir: Path) -> Measured:
    found = Measured()
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("schema") != "histbench-results":
            continue  # machine.json, calibration.json
        found.commits.add(data["commit"]["hash"])
        found.build_seconds += data.get("build", {}).get("duration") or 0.0
        for r in data["results"]:
            samples = r.get("process_samples") or []
            found.add(r["name"], sum(len(s) for s in samples))
            if r.get("kind") == "time":
                found.timed_seconds += sum(map(sum, samples)) * (r.get("number") or 1)
    return found


# -- the two tools ----------------------------------------------------------------------------


def asv_run(asv: Path, repo: Path, spec: str, logs: Path, label: str) -> tuple[float, Measured]:
    shutil.rmtree(repo / ".asv" / "results", ignore_errors=True)
    cmd = [str(asv), "run", spec, "--machine", ASV_MACHINE, "--record-samples"]
    seconds = timed(cmd, repo, logs / f"asv-{label}.log")
    return seconds, read_asv(repo / ".asv" / "results" / ASV_MACHINE)


def histbench_run(repo: Path, spec: str, logs: Path, label: str) -> tuple[float, Measured]:
    shutil.rmtree(repo / "results", ignore_errors=True)
    cmd = [sys.executable, "-m", "histbench", "run", spec, "--machine", MACHINE]
    seconds = timed(cmd, repo, logs / f"histbench-{label}.log")
    return seconds, read_histbench(repo / "results" / MACHINE)


@contextmanager
def scratch(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for a bench run, removed after it unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


class AsvMachineFile:
    """asv keeps machine descriptions in ~/.asv-machine.json: put it back as it was."""

    path = Path.home() / ".asv-machine.json"

    def __enter__(self) -> AsvMachineFile:
        self.saved = self.path.read_bytes() if self.path.exists() else None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            self.path.unlink(missing_ok=True)
        else:
            self.path.write_bytes(self.saved)


# -- report -----------------------------------------------------------------------------------


def check(tool: Tool, expected: set[str]) -> list[str]:
    problems = []
    for label, m in (("cold", tool.measured_cold), ("warm", tool.measured_warm)):
        if m.commits != expected:
            problems.append(f"{tool.name} {label}: measured {len(m.commits)} commits, "
                            f"{len(m.commits & expected)} of the {len(expected)} expected")
        for bench, counts in m.samples.items():
            if len(counts) > 1:
                problems.append(f"{tool.name} {label}: {bench} has different sample counts "
                                f"across commits {sorted(counts)}")
    return problems


def report(tools: list[Tool], expected: set[str], n: int) -> None:
    header = ["tool", "cold s", "warm s", "commits", "samples per commit",
              "timed s", "build s (cold)"]
    rows = [header]
    for t in tools:
        m = t.measured_cold
        rows.append([t.name, f"{t.cold:.1f}", f"{t.warm:.1f}", str(len(m.commits)),
                     m.samples_text(), f"{m.timed_seconds:.1f}", f"{m.build_seconds:.1f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    hb, asv = tools[1], tools[0]
    same = all(t.measured_cold.commits == t.measured_warm.commits == expected for t in tools)
    print(f"\ncommits: {n} expected, same set in both tools and both runs: "
          f"{'yes' if same else 'NO'}")
    print("timed s: seconds inside timed samples (sample x number), the floor of each run")
    for problem in check(asv, expected) + check(hb, expected):
        print(f"warning: {problem}")
    cold, warm = hb.cold / asv.cold, hb.warm / asv.warm
    print(f"\nratio histbench/asv: cold {cold:.2f}, warm {warm:.2f} (target <= {TARGET})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=10, help="commits measured (10)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.commits < 1:
        parser.error("--commits must be at least 1")

    asv = ensure_asv_venv(ASV_VENV)
    with scratch("histbench-vs-asv-", args.keep) as tmp:
        repo, logs = tmp / "toy", tmp / "logs"
        logs.mkdir()
        expected = set(make_toy(repo, args.commits))
        spec = f"main~{args.commits}..main"
        print(f"toy repo {repo}: range {spec}, suite attributes {BENCH_ATTRS}",
              file=sys.stderr)
        a, h = Tool("asv"), Tool("histbench")
        with AsvMachineFile():
            timed([str(asv), "machine", "--machine", ASV_MACHINE, "--yes"], repo,
                  logs / "asv-machine.log")
            for label in ("cold", "warm"):
                print(f"asv {label} ...", file=sys.stderr)
                seconds, measured = asv_run(asv, repo, spec, logs, label)
                setattr(a, label, seconds)
                setattr(a, f"measured_{label}", measured)
                print(f"histbench {label} ...", file=sys.stderr)
                seconds, measured = histbench_run(repo, spec, logs, label)
                setattr(h, label, seconds)
                setattr(h, f"measured_{label}", measured)
        report([a, h], expected, args.commits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
