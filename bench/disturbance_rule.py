"""How steady a measurement is under a noisy neighbour: every sample, rejection, and the rule.

Usage: python bench/disturbance_rule.py [--measurements N] [--seed S] [--quiet]

One CPU-bound benchmark (a fixed pure-Python loop, about 1 ms a call) is measured N times
(default 30) by histbench's worker as ``histbench run`` would (4 processes, its default
sample counts), while bench/noise.py loads every core in random bursts (``--quiet``: no
injector). Every measurement keeps all its evidence (each sample, the reference loop
around it, its CPU share), so the same samples are summarised three ways, side by side:

- every sample counted (``--keep-disturbed``, histbench before the rule);
- disturbed samples left out (rules 1-2 of docs/api.md, "Disturbed samples");
- left out and the rest normalised (the rule as histbench applies it).

Printed for each: the coefficient of variation of the N medians and their max/min: how
far two measurements of the same code can disagree. The rule's cost is printed too: the
share of samples left out, and the seconds per measurement with the check on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Test helpers (the toy history, the noisy neighbour) live under tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from noisy_neighbour import Injector

from histbench.measure import disturbance
from histbench.run.rounds import ProcessEnv, QuietLevel, Settings, run_suite
from histbench.run.suite import discover

BENCHMARK = """
def time_loop():
    x = 0
    for i in range(30_000):
        x += i % 7
"""


def summaries(results, level: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"every sample": [], "disturbed left out": [],
                                   "left out + normalised (the rule)": []}
    for r in results:
        typical = disturbance.typical_share([v for p in r.process_cpu_shares for v in p])
        every, kept, scaled = [], [], []
        for samples, refs, shares in zip(r.measured_samples, r.process_references,
                                         r.process_cpu_shares, strict=True):
            flags = disturbance.disturbed(refs, shares, level, typical)
            normal = disturbance.normalised(samples, refs, level)
            every += samples
            kept += [v for v, bad in zip(samples, flags, strict=True) if not bad]
            scaled += [v for v, bad in zip(normal, flags, strict=True) if not bad]
        for name, values in zip(out, (every, kept, scaled), strict=True):
            if values:
                out[name].append(statistics.median(values))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--measurements", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no injector")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="histbench-rule-") as tmp:
        bench = Path(tmp) / "benchmarks"
        bench.mkdir()
        (bench / "bench_loop.py").write_text(BENCHMARK)
        suite = discover(sys.executable, bench)
        penv = ProcessEnv(python=sys.executable, benchmark_dir=bench, workdir=Path(tmp))
        quiet = QuietLevel()
        results, seconds = [], []
        injector = Injector(24 * 3600, seed=args.seed) if not args.quiet else None
        if injector:
            injector.start()
        try:
            for _ in range(args.measurements):
                start = time.perf_counter()
                results += run_suite(penv, suite.benchmarks, Settings(), quiet=quiet)
                seconds.append(time.perf_counter() - start)
        finally:
            if injector:
                injector.stop()
    rows = summaries(results, quiet.seconds)
    print(f"{args.measurements} measurements of one benchmark, "
          f"{'quiet' if args.quiet else f'noise seed {args.seed}'}")
    print(f"{'samples used':34s} {'CV of medians':>14s} {'max/min':>8s}")
    for name, medians in rows.items():
        cv = statistics.pstdev(medians) / statistics.fmean(medians)
        print(f"{name:34s} {100 * cv:13.1f}% {max(medians) / min(medians):8.2f}")
    left = sum(r.disturbance.rejected for r in results)
    total = sum(r.disturbance.samples for r in results)
    print(f"\nleft out: {left} of {total} samples ({100 * left / total:.0f}%); "
          f"{statistics.median(seconds):.1f} s per measurement (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
