"""Wall time of ``histbench publish`` and ``asv publish`` on the same large results set.

Usage: python bench/publish_vs_asv.py [--commits 1000] [--benchmarks 200] [--keep]

Builds a git repository of N commits (bench/asv_synth.py, with ``git fast-import``) and a
synthetic asv results set (format v2) for every commit: by default 1,000 commits x 200
benchmarks (240 parameter sets), 10 raw samples per time result, some injected steps.
Then, in this order:

1. ``asv publish`` cold (its html folder removed);
2. ``histbench import-asv`` of the whole set (a one-off migration, reported, not a target);
3. ``histbench publish`` cold (html folder removed); with ``--repeat N`` (3), N cold
   publishes of each tool, alternating, so both see the same machine (this VM's speed
   drifts by tens of percent over minutes); then once more with nothing new;
4. one more commit: a real git commit plus its asv result file, imported on its own;
5. ``histbench publish`` incremental (the site of step 3 kept), N times from a copy of
   that site;
6. ``asv publish`` again with the extra commit (asv has no incremental mode: reference).

Targets: histbench cold publish <= 0.25 x asv's, histbench incremental publish <= 5 s
(medians of the N runs).
Exits 0 when both are met and both sites show every commit (the extra one included),
1 otherwise (also when this checkout has no ``histbench publish`` yet).

Why the comparison is fair:

- Same data: both sites are built from one generated results set (same commits, same
  benchmarks, same samples, same dates); histbench reads its import of it, and the import
  is timed on its own line (in normal use histbench writes its own files while measuring).
  The script checks that both sites show every commit, the extra one included.
- Same history: one git repository, branch ``main``; both tools ask git for the
  branch's commits and tags. asv runs with ``--no-pull`` because the repository is local
  and has no remote (histbench never fetches either).
- Same machine, interpreter and parallelism: both run on CPython 3.11 from the same
  install (asv from its own virtualenv, /tmp/histbench-bench-asv-venv); asv's step
  detection uses a pool of ``cpu_count`` processes, histbench reads result files and
  renders pages (detecting steps as it goes) in a pool of the same size. The histbench
  measured is this checkout's (PYTHONPATH).
- Same starting state: cold means the output folder is removed first, for both; the input
  files of both were just written, so both read from the page cache.
- If anything the comparison favours asv: asv writes JSON for a JavaScript application
  that draws the plots in the browser, while histbench renders every plot (SVG) and page
  (HTML) in advance, so its site works without JavaScript, from file:// and offline.

asv's time is broken down by the phase lines it prints (``[xx%] · ...``) so it is clear
where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asv_synth as synth
from history_vs_asv import ASV_VENV, ensure_asv_venv

ROOT = Path(__file__).resolve().parent.parent
COLD_TARGET = 0.25  # histbench cold publish / asv publish
INCREMENTAL_TARGET = 5.0  # seconds
ASV_RESULTS, ASV_HTML = "asv-results", "asv-html"
HB_RESULTS, HB_HTML = "hb-results", "hb-html"


@dataclass
class Step:
    label: str
    seconds: float
    note: str = ""


@dataclass
class Run:
    seconds: float
    returncode: int
    phases: list[tuple[str, float]] = field(default_factory=list)  # asv's progress lines


PHASE = re.compile(r"\[\s*[\d.]+%\] · ([^\n]*)")


def run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` with its output to ``log``, noting when each asv phase line appears.

    asv prints a phase's line when the phase starts but its newline only when the next one
    does, so the output is read as it arrives, not by lines.
    """
    chunks: list[tuple[int, float]] = []  # (end offset of the chunk, seconds)
    received = bytearray()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while data := os.read(fd, 65536):
        received += data
        chunks.append((len(received), time.perf_counter() - start))
    returncode = proc.wait()
    seconds = time.perf_counter() - start
    text = received.decode(errors="replace")
    log.write_text(text)
    marks: list[tuple[str, float]] = []
    for m in PHASE.finditer(text):
        offset = len(text[:m.start()].encode())
        arrived = next(t for end, t in chunks if end > offset)
        marks.append((m.group(1).strip(), arrived))
    ends = [t for _, t in marks[1:]] + [seconds] * bool(marks)
    phases = [(name, end - began) for (name, began), end in zip(marks, ends, strict=True)]
    if marks:
        phases.insert(0, ("start-up (imports, config, copying the web app)", marks[0][1]))
    return Run(seconds, returncode, phases)


def must(result: Run, what: str, log: Path) -> Run:
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        sys.exit(f"{what} exited {result.returncode} (log {log}):\n{tail}")
    return result


def histbench_env() -> dict[str, str]:
    """Measure this checkout's histbench, whatever else is installed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def has_publish(env: dict[str, str]) -> bool:
    proc = subprocess.run([sys.executable, "-m", "histbench", "publish", "--help"], env=env,
                          capture_output=True, cwd=ROOT)
    return proc.returncode == 0


def asv_publish(asv: Path, repo: Path, log: Path) -> Run:
    shutil.rmtree(repo / ASV_HTML, ignore_errors=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return must(run([str(asv), "publish", "--no-pull"], repo, log, env), "asv publish", log)


def asv_site_commits(repo: Path) -> set[str]:
    index = json.loads((repo / ASV_HTML / "index.json").read_text())
    return set(index["revision_to_hash"].values())


def hb_site_has(repo: Path, sha: str) -> bool:
    html = repo / HB_HTML
    return any(html.glob(f"*/c/{sha}.html")) or sha in (html / "index.html").read_text()


def wrote(log: Path) -> str:
    """histbench publish's own summary line ("wrote N files, M unchanged, in S s")."""
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("wrote")]
    return lines[-1].split(":", 1)[0] if lines else ""


def import_one(hb: list[str], repo: Path, new_file: Path, tmp: Path, log: Path,
               env: dict[str, str]) -> Run:
    """Import just the new asv file: a folder with the headers and that file only."""
    folder = tmp / "asv-new"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / synth.MACHINE).mkdir(parents=True)
    shutil.copy(repo / ASV_RESULTS / "benchmarks.json", folder)
    shutil.copy(repo / ASV_RESULTS / synth.MACHINE / "machine.json", folder / synth.MACHINE)
    shutil.copy(new_file, folder / synth.MACHINE)
    cmd = [*hb, "import-asv", str(folder), "--results-dir", str(repo / HB_RESULTS)]
    return must(run(cmd, repo, log, env), "histbench import-asv (one file)", log)


def print_table(steps: list[Step]) -> None:
    rows = [("step", "seconds", ""), *((s.label, f"{s.seconds:.1f}", s.note) for s in steps)]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for i, (label, seconds, note) in enumerate(rows):
        print(f"{label.ljust(widths[0])}  {seconds.rjust(widths[1])}  {note}".rstrip())
        if i == 0:
            print(f"{'-' * widths[0]}  {'-' * widths[1]}")


def print_phases(title: str, result: Run) -> None:
    print(f"\n{title} ({result.seconds:.1f} s), by phase:")
    width = max((len(name) for name, _ in result.phases), default=0)
    for name, seconds in result.phases:
        share = 100 * seconds / result.seconds if result.seconds else 0
        print(f"  {name.ljust(width)}  {seconds:6.1f} s  {share:3.0f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=1000, help="commits (1000)")
    parser.add_argument("--benchmarks", type=int, default=200, help="benchmarks (200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--repeat", type=int, default=3,
                        help="cold publishes of each tool, alternating, and incremental "
                             "publishes; medians are compared (3)")
    args = parser.parse_args(argv)
    if args.commits < 2 or args.benchmarks < 20 or args.repeat < 1:
        parser.error("--commits must be at least 2, --benchmarks at least 20 and --repeat "
                     "at least 1")

    asv = ensure_asv_venv(ASV_VENV)
    env = histbench_env()
    tmp = Path(tempfile.mkdtemp(prefix="histbench-publish-vs-asv-"))
    repo, logs = tmp / "synth", tmp / "logs"
    logs.mkdir()
    steps: list[Step] = []
    try:
        began = time.perf_counter()
        commits = synth.make_repo(repo, args.commits, args.seed)
        suite = synth.make_suite(args.benchmarks, args.commits, args.seed)
        synth.write_results(repo / ASV_RESULTS, commits, suite, args.seed)
        synth.write_asv_conf(repo, ASV_RESULTS, ASV_HTML)
        config = repo / "histbench.json"
        config.write_text(json.dumps({
            "project": "synth", "repo": ".", "branches": ["main"],
            "results_dir": HB_RESULTS, "html_dir": HB_HTML}, indent=2))
        sets = sum(len(b.base) for b in suite)
        steps.append(Step("generate git repo + asv results", time.perf_counter() - began,
                          f"{args.commits} commits x {len(suite)} benchmarks "
                          f"({sets} parameter sets)"))
        print(f"synthetic data in {repo}", file=sys.stderr)

        print("asv publish (cold) ...", file=sys.stderr)
        asv_cold = asv_publish(asv, repo, logs / "asv-publish-cold.log")
        steps.append(Step("asv publish (cold)", asv_cold.seconds))
        asv_ok = len(asv_site_commits(repo) & {c.sha for c in commits}) == len(commits)

        if not has_publish(env):
            print_table(steps)
            print_phases("asv publish (cold)", asv_cold)
            print("\nhistbench publish: not available in this checkout "
                  "(`python -m histbench publish --help` fails); nothing to compare")
            return 1

        hb = [sys.executable, "-m", "histbench", "--config", str(config)]
        print("histbench import-asv ...", file=sys.stderr)
        log = logs / "histbench-import.log"
        cmd = [*hb, "import-asv", str(repo / ASV_RESULTS), "--results-dir",
               str(repo / HB_RESULTS)]
        imported = must(run(cmd, repo, log, env), "histbench import-asv", log)
        steps.append(Step("histbench import-asv (all, one-off)", imported.seconds,
                          "not part of the targets"))

        print("histbench publish (cold) ...", file=sys.stderr)
        asv_colds, hb_colds = [asv_cold.seconds], []
        for r in range(args.repeat):  # alternating, so that both see the same machine
            if r:
                print(f"asv publish (cold, again {r}) ...", file=sys.stderr)
                asv_colds.append(asv_publish(asv, repo, logs / f"asv-publish-cold-{r}.log")
                                 .seconds)
            shutil.rmtree(repo / HB_HTML, ignore_errors=True)
            log = logs / f"histbench-publish-cold-{r}.log"
            hb_colds.append(must(run([*hb, "publish"], repo, log, env), "histbench publish",
                                 log).seconds)
        steps.append(Step("histbench publish (cold)", hb_colds[0], wrote(log)))
        if args.repeat > 1:
            steps.append(Step(f"asv publish (cold), median of {args.repeat}",
                              statistics.median(asv_colds),
                              " ".join(f"{x:.1f}" for x in asv_colds)))
            steps.append(Step(f"histbench publish (cold), median of {args.repeat}",
                              statistics.median(hb_colds),
                              " ".join(f"{x:.1f}" for x in hb_colds)))

        log = logs / "histbench-publish-again.log"
        again = must(run([*hb, "publish"], repo, log, env), "histbench publish", log)
        steps.append(Step("histbench publish (nothing new)", again.seconds, wrote(log)))

        print("one more commit ...", file=sys.stderr)
        began = time.perf_counter()
        extra = synth.add_commit(repo, args.commits, args.seed)
        new_file = synth.write_commit(repo / ASV_RESULTS, extra, suite, args.seed)
        steps.append(Step("add a commit + its asv result file", time.perf_counter() - began))
        one = import_one(hb, repo, new_file, tmp, logs / "histbench-import-one.log", env)
        steps.append(Step("histbench import-asv (the new file)", one.seconds))

        print("histbench publish (incremental) ...", file=sys.stderr)
        before = tmp / "hb-html-before"  # the site as it was, to publish onto it again
        shutil.copytree(repo / HB_HTML, before)
        incrementals = []
        for r in range(args.repeat):
            if r:
                shutil.rmtree(repo / HB_HTML)
                shutil.copytree(before, repo / HB_HTML)
            log = logs / f"histbench-publish-incremental-{r}.log"
            incrementals.append(must(run([*hb, "publish"], repo, log, env),
                                     "histbench publish", log).seconds)
        steps.append(Step("histbench publish (incremental)", incrementals[0], wrote(log)))
        if args.repeat > 1:
            steps.append(Step(f"histbench publish (incremental), median of {args.repeat}",
                              statistics.median(incrementals),
                              " ".join(f"{x:.1f}" for x in incrementals)))
        hb_ok = hb_site_has(repo, extra.sha)

        print("asv publish (after the extra commit) ...", file=sys.stderr)
        asv_again = asv_publish(asv, repo, logs / "asv-publish-again.log")
        steps.append(Step("asv publish (after the extra commit)", asv_again.seconds,
                          "asv always rebuilds everything"))
        asv_ok = asv_ok and extra.sha in asv_site_commits(repo)

        print_table(steps)
        print_phases("asv publish (cold)", asv_cold)
        print(f"\nextra commit {extra.sha[:12]} shown: asv {'yes' if asv_ok else 'NO'}, "
              f"histbench {'yes' if hb_ok else 'NO'}")
        ratio = statistics.median(hb_colds) / statistics.median(asv_colds)
        pairs = " ".join(f"{h / a:.2f}" for h, a in zip(hb_colds, asv_colds, strict=True))
        incremental = statistics.median(incrementals)
        print(f"\ncold publish ratio histbench/asv (medians): {ratio:.2f} "
              f"(target <= {COLD_TARGET}; run by run: {pairs})")
        print(f"incremental publish (median): {incremental:.1f} s "
              f"(target <= {INCREMENTAL_TARGET:g} s)")
        met = ratio <= COLD_TARGET and incremental <= INCREMENTAL_TARGET
        return 0 if met and asv_ok and hb_ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp} (logs in {logs})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
