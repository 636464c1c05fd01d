"""The `histbench` command line.

Every user-facing failure is a HistbenchError, printed as one line; a traceback means a bug
in histbench, not in the user's input.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from histbench import __version__
from histbench.cli import analysis_commands as cli_analysis
from histbench.core.config import Config, default_config, find_config, load_config
from histbench.core.errors import HistbenchError
from histbench.core.formatting import format_value, render_table
from histbench.core.parallel import available_cpus
from histbench.run.git import Repo
from histbench.run.history_runner import Runner, RunOptions
from histbench.run.rounds import ProcessEnv, Settings, run_suite
from histbench.run.suite import BenchmarkSpec, describe, discover
from histbench.store import machine
from histbench.store.asv_import import import_asv
from histbench.store.results import BenchmarkResult

EXIT_OK, EXIT_ERROR, EXIT_BENCHMARK_FAILED = 0, 1, 2


def _config(args: argparse.Namespace, required: bool = True) -> Config:
    if args.config:
        return load_config(Path(args.config))
    try:
        return load_config(find_config())
    except HistbenchError:
        if required:
            raise
        return default_config(Path.cwd())


def _progress(stream) -> Callable[[int, int, BenchmarkSpec], None]:
    def report(i: int, n: int, bench: BenchmarkSpec) -> None:
        print(f"[{i + 1}/{n}] {bench.name}", file=stream, flush=True)

    return report


def result_rows(results: list[BenchmarkResult]) -> list[list[str]]:
    rows = []
    for r in results:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        if r.status != "ok" or r.stats is None:
            rows.append([r.name, params, f"{r.status}: {r.reason or ''}"[:70], "", ""])
            continue
        s = r.stats
        value = format_value(s.median, r.unit)
        if s.n > 1:
            value += (f" [{format_value(s.median_ci_low, r.unit)}, "
                      f"{format_value(s.median_ci_high, r.unit)}]")
        rows.append([r.name, params, value, str(s.n), str(len(s.outliers))])
    return rows


def cmd_dev(args: argparse.Namespace) -> int:
    config = _config(args, required=False)
    suite = discover(sys.executable, config.benchmark_dir,
                     default_timeout=config.default_timeout).select(args.bench)
    settings = Settings.quick() if args.quick else Settings(
        rounds=args.rounds, repeat=args.repeat,
        reject_disturbed=not args.keep_disturbed and config.reject_disturbed)
    settings.energy = config.energy
    penv = ProcessEnv(python=sys.executable, benchmark_dir=config.benchmark_dir)
    quiet = args.json
    results = run_suite(penv, suite.benchmarks, settings,
                        progress=None if quiet else _progress(sys.stderr))
    failed = [r for r in results if r.status == "failed"]
    if args.save:
        path = _save_dev(config, suite, results, settings, args.machine)
        print(f"saved {path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results],
                          "errors": [vars(e) for e in suite.errors]}, indent=1,
                         allow_nan=False))
    else:
        header = ["benchmark", "params", "median [95% CI]", "n", "outliers"]
        print(render_table(header, result_rows(results)))
        for err in suite.errors:
            print(f"error: {err}", file=sys.stderr)
        print(f"\n{len(results) - len(failed)} ran, {len(failed)} failed, "
              f"{len(suite.errors)} import errors", file=sys.stderr)
    return EXIT_BENCHMARK_FAILED if failed or suite.errors else EXIT_OK


def _save_dev(config: Config, suite, found: list[BenchmarkResult], settings: Settings,
              machine_name: str | None) -> Path:
    """Results of the working tree, stored like a commit's (the HEAD it is based on, marked
    as the working tree), so report, show and compare can use them."""
    import time

    from histbench.run.environments import installed_packages
    from histbench.store import results
    from histbench.store.results import CommitInfo, RunResults

    record = machine.collect(machine_name)
    machine.save(record, config.results_dir)
    try:
        repo = Repo(config.root)
        info = repo.info(repo.rev("HEAD"))
        info.subject = f"working tree on {info.short}: {info.subject}"
    except HistbenchError:
        info = CommitInfo(hash="0" * 40, date=time.time(), subject="working tree")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    run = RunResults(machine=record.name, env_name=f"dev-py{version}", commit=info,
                     python=version, histbench_version=__version__, started_at=time.time(),
                     finished_at=time.time(), settings=settings.to_dict(), results=found,
                     errors=[vars(e) for e in suite.errors],
                     packages=installed_packages(sys.executable))
    results.save_benchmark_info(config.results_dir, describe(suite.benchmarks))
    return results.save(run, config.results_dir)


def cmd_machine(args: argparse.Namespace) -> int:
    config = _config(args, required=False)
    results_dir = Path(args.results_dir) if args.results_dir else config.results_dir
    record = machine.collect(args.machine)
    path = machine.save(record, results_dir)
    if args.json:
        print(json.dumps(record.to_dict(), indent=1))
    else:
        print(machine.format_record(record))
        print(f"saved {path}", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    options = RunOptions(
        range_spec=args.range, bench=args.bench, quick=args.quick, machine=args.machine,
        python=args.python, dry_run=args.dry_run, shard=args.shard, steps=args.steps,
        skip_existing=args.skip_existing, interleave=args.interleave,
        settings=Settings(rounds=args.rounds, repeat=args.repeat,
                          reject_disturbed=not args.keep_disturbed))
    runner = Runner(config, options, progress_stream=sys.stderr)
    with _terminate_as_interrupt():
        report = runner.run()
    if args.dry_run:
        for info in report.commits:
            print(f"{info.short}  {info.subject}")
        print(f"{len(report.commits)} commits to run, {report.skipped_existing} already "
              "measured", file=sys.stderr)
        return EXIT_OK
    print(f"{len(report.saved)} commits measured, {report.skipped_existing} skipped as "
          f"already measured, {report.build_failures} failed to build, "
          f"{report.bench_failures} benchmark failures", file=sys.stderr)
    return report.exit_code


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A kill (SIGTERM) unwinds like Ctrl-C: the worker in flight is killed, and every
    commit already saved stays saved."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_import_asv(args: argparse.Namespace) -> int:
    config = _config(args, required=False)
    results_dir = Path(args.results_dir) if args.results_dir else config.results_dir
    describe = _describer(config)
    report = import_asv(Path(args.asv_results), results_dir, describe=describe,
                        jobs=available_cpus())
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"imported {len(report.imported)} result files for "
          f"{', '.join(report.machines) or 'no machine'} into {results_dir}; "
          f"{len(report.skipped)} skipped", file=sys.stderr)
    return EXIT_BENCHMARK_FAILED if report.skipped else EXIT_OK


def _describer(config: Config):
    """Commit subjects and authors from the configured repo, where it has the commit.

    One Repo per process: import workers are forked, and gitpython keeps a `git cat-file`
    process per Repo whose pipes must not be shared."""
    try:
        Repo(config.repo_path)
    except HistbenchError:
        return None
    repos: dict[int, Repo] = {}

    def describe(sha: str):
        repo = repos.get(os.getpid())
        if repo is None:
            repo = repos[os.getpid()] = Repo(config.repo_path)
        try:
            return repo.info(repo.rev(sha))
        except (HistbenchError, ValueError):
            return None

    return describe


def cmd_publish(args: argparse.Namespace) -> int:
    from histbench.site.publisher import Publisher  # matplotlib: only when publishing

    config = _config(args)
    if args.jobs is not None and args.jobs < 1:
        raise HistbenchError(f"--jobs must be at least 1, not {args.jobs}")
    publisher = Publisher(config, Path(args.html_dir) if args.html_dir else None,
                          alpha=args.alpha, jobs=args.jobs)
    report = publisher.publish(order=cli_analysis.history_order(config))
    print(f"wrote {len(report.written)} files, {report.skipped} unchanged, in "
          f"{report.seconds:.1f} s: {publisher.html_dir / 'index.html'}", file=sys.stderr)
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    config = _config(args)
    html_dir = Path(args.html_dir) if args.html_dir else config.html_dir
    if not (html_dir / "index.html").exists():
        raise HistbenchError(f"{html_dir}: no site yet (run `histbench publish` first)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"serving {html_dir} at http://127.0.0.1:{server.server_address[1]}/ "
              "(Ctrl-C stops)", file=sys.stderr, flush=True)
        server.serve_forever()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histbench", description="Benchmark a Python project across its git history.")
    parser.add_argument("--version", action="version", version=f"histbench {__version__}")
    parser.add_argument("--config", help="path to histbench.json (default: nearest one)")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the working tree's suite in this interpreter")
    dev.add_argument("-b", "--bench", action="append", help="regex of benchmarks to run")
    dev.add_argument("--quick", action="store_true", help="one sample of one call each")
    dev.add_argument("--json", action="store_true", help="print results as JSON")
    dev.add_argument("--save", action="store_true",
                     help="store the results (as the working tree of HEAD) for report/show")
    dev.add_argument("--machine", help="machine name for --save (default: hostname)")
    dev.add_argument("--rounds", type=int, help="processes per benchmark (overrides suite)")
    dev.add_argument("--repeat", type=int, help="samples per process (overrides suite)")
    dev.add_argument("--keep-disturbed", action="store_true",
                     help="count samples taken while the machine was disturbed")
    dev.set_defaults(func=cmd_dev)

    run = sub.add_parser("run", help="benchmark a range of commits, each in an isolated env")
    run.add_argument("range", help="A..B, HEAD~N..HEAD, a branch, a commit, ALL, NEW, "
                                   "EXISTING or HASHFILE:path")
    run.add_argument("-b", "--bench", action="append", help="regex of benchmarks to run")
    run.add_argument("--quick", action="store_true", help="one sample of one call each")
    run.add_argument("--machine", help="machine name to store results under")
    run.add_argument("--python", help="one of the configured pythons (or a version/path)")
    run.add_argument("--dry-run", action="store_true", help="list the commits, run nothing")
    run.add_argument("--shard", help="I/N: run every N-th commit starting at the I-th")
    run.add_argument("--steps", type=int, help="sample N evenly spaced commits of the range")
    run.add_argument("--skip-existing", action="store_true",
                     help="skip commits already measured on this machine")
    run.add_argument("--interleave", action="store_true",
                     help="alternate rounds across commits so machine drift averages out")
    run.add_argument("--rounds", type=int, help="processes per benchmark (overrides suite)")
    run.add_argument("--repeat", type=int, help="samples per process (overrides suite)")
    run.add_argument("--keep-disturbed", action="store_true",
                     help="count samples taken while the machine was disturbed, and do not "
                          "wait out bursts (the behaviour before disturbance checks)")
    run.set_defaults(func=cmd_run)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--machine", help="machine whose results to use")
        if p.prog.split()[-1] in ("compare", "regressions", "show", "report"):
            p.add_argument("--env", help="environment name (default: the most used)")

    cli_analysis.add_parsers(sub, common)

    pub = sub.add_parser("publish", help="render the static history site")
    pub.add_argument("--html-dir", help="output folder (default: html_dir of the config)")
    pub.add_argument("--alpha", type=float, default=0.05,
                     help="family-wise false-alarm rate of step detection")
    pub.add_argument("-j", "--jobs", type=int, default=None,
                     help="worker processes that render pages (default: one per CPU)")
    pub.set_defaults(func=cmd_publish)

    pre = sub.add_parser("preview", help="serve the published site on localhost")
    pre.add_argument("--html-dir")
    pre.add_argument("--port", type=int, default=8080)
    pre.set_defaults(func=cmd_preview)

    imp = sub.add_parser("import-asv", help="convert an asv results folder into histbench's")
    imp.add_argument("asv_results", help="asv's results folder (with benchmarks.json)")
    imp.add_argument("--results-dir", help="histbench results folder (default: from config)")
    imp.set_defaults(func=cmd_import_asv)

    mach = sub.add_parser("machine", help="record this machine's description")
    mach.add_argument("--machine", help="name to store results under (default: hostname)")
    mach.add_argument("--results-dir", help="results folder (default: from config)")
    mach.add_argument("--json", action="store_true")
    mach.set_defaults(func=cmd_machine)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "analysis"):
            return args.analysis(_config(args), args)
        return args.func(args)
    except HistbenchError as exc:
        print(f"histbench: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("histbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
