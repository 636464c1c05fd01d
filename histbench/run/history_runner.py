"""The history runner: build each commit, run the suite against it, save as you go.

What matters here is what survives: each commit's results are written the moment that
commit is done, atomically, so Ctrl-C, a kill or a crash costs at most the commit in
flight, and ``--skip-existing`` picks up where the run stopped. A commit that does not
build is saved as such (with its log tail) and the run moves on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from histbench import __version__
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.run.environments import (
    BuildError,
    Environment,
    EnvManager,
    installed_packages,
    unpacked_distributions,
)
from histbench.run.git import BuildCheckout, Repo, resolve_range, shard
from histbench.run.progress import Progress
from histbench.run.rounds import (
    CacheOutcome,
    Outcome,
    ProcessEnv,
    QuietLevel,
    Settings,
    combine,
    failed_results,
    remember_numbers,
    run_round,
    run_suite,
    setup_cache_for,
    surviving,
)
from histbench.run.suite import BenchmarkSpec, Suite, describe, discover
from histbench.store import machine, results
from histbench.store.results import CommitInfo, RunResults

EXIT_OK, EXIT_BENCH_FAILED, EXIT_BUILD_FAILED = 0, 2, 3


@dataclass
class RunOptions:
    range_spec: str
    bench: list[str] | None = None
    quick: bool = False
    machine: str | None = None
    python: str | None = None
    dry_run: bool = False
    shard: str | None = None
    steps: int | None = None
    skip_existing: bool = False
    interleave: bool = False
    settings: Settings = field(default_factory=Settings)
    commits: list[str] | None = None  # explicit commits (any refs), instead of range_spec


@dataclass
class Prepared:
    """A commit ready to measure: where its build is importable from, or why it is not."""

    info: CommitInfo
    install_dir: Path | None = None
    build: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.build.get("status") == "ok"


@dataclass
class RunReport:
    commits: list[CommitInfo]
    saved: list[Path] = field(default_factory=list)
    build_failures: int = 0
    bench_failures: int = 0
    skipped_existing: int = 0

    @property
    def exit_code(self) -> int:
        if self.build_failures:
            return EXIT_BUILD_FAILED
        return EXIT_BENCH_FAILED if self.bench_failures else EXIT_OK


@contextmanager
def results_lock(results_dir: Path) -> Iterator[None]:
    """One writer per results folder: two runs interleaving writes would corrupt nothing
    (writes are atomic) but would measure each other's noise and race on calibration."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / ".histbench.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise HistbenchError(f"{results_dir}: another histbench run (pid {holder}) is "
                                 "writing here; wait for it or use another results_dir") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


REFERENCE_KEY = "__reference_levels__"  # calibration.json: env -> normalisation level


class Calibration:
    """Loop counts per benchmark, kept across commits and runs so all are timed alike
    (a benchmark's edited version invalidates its counts)."""

    def __init__(self, path: Path, env: str):
        self.path, self.env = path, env
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def numbers(self, bench: BenchmarkSpec) -> dict[int, int]:
        entry = self.data.get(self.env, {}).get(bench.name)
        if not entry or entry.get("version") != bench.version:
            entry = {"version": bench.version, "numbers": {}}
            self.data.setdefault(self.env, {})[bench.name] = entry
        return _IntKeyed(entry["numbers"])

    def reference_level(self) -> float | None:
        """The reference time this environment's samples are normalised to, once set."""
        level = self.data.get(REFERENCE_KEY, {}).get(self.env)
        return float(level) if isinstance(level, (int, float)) and level > 0 else None

    def keep_reference_level(self, seconds: float | None) -> None:
        if seconds and self.reference_level() is None:
            self.data.setdefault(REFERENCE_KEY, {})[self.env] = seconds

    def save(self) -> None:
        results.write_json_atomic(self.path, self.data)


class _IntKeyed(dict):
    """A view of a JSON object with string keys as int-keyed, writing through."""

    def __init__(self, backing: dict):
        super().__init__({int(k): v for k, v in backing.items()})
        self.backing = backing

    def __setitem__(self, key: int, value: int) -> None:
        super().__setitem__(key, value)
        self.backing[str(key)] = value


class Runner:
    def __init__(self, config: Config, options: RunOptions, progress_stream=None):
        self.config = config
        self.options = options
        self.stream = progress_stream
        self.settings = Settings.quick() if options.quick else options.settings
        if self.settings.energy is None:
            self.settings.energy = config.energy
        if not config.reject_disturbed:
            self.settings.reject_disturbed = False
        self.manager = EnvManager(
            config.env_dir, kind=config.environment_type, project=config.project,
            build_command=config.build_command, install_command=config.install_command,
            cache_size=config.wheel_cache_size)
        # Results measured together carry one batch id: bisect may reuse them as evidence
        # only for commits of the same batch (bisect.earlier_batches).
        self.batch = uuid.uuid4().hex[:16] if options.interleave else None
        if options.interleave and config.install_command:
            raise HistbenchError("--interleave needs the default install (install_command is "
                                 "set: each round would reinstall every commit)")

    # -- planning ---------------------------------------------------------------------------

    def environments(self) -> list[Environment]:
        pythons = [self.options.python] if self.options.python else self.config.pythons
        return [self.manager.environment(p, self.config.requirements) for p in pythons]

    def plan(self, env: Environment, machine_name: str) -> tuple[list[CommitInfo], int]:
        repo = Repo(self.config.repo_path)
        measured = self._measured(machine_name, env.name)
        if self.options.commits is not None:
            commits = repo.infos(dict.fromkeys(repo.rev(c) for c in self.options.commits))
        else:
            commits = resolve_range(repo, self.options.range_spec,
                                    branches=self.config.branches, measured=set(measured),
                                    steps=self.options.steps)
        if self.options.shard:
            commits = shard(commits, self.options.shard)
        skipped = 0
        if self.options.skip_existing:
            todo = [c for c in commits if not measured.get(c.hash)]
            skipped = len(commits) - len(todo)
            commits = todo
        return commits, skipped

    def _measured(self, machine_name: str, env_name: str) -> dict[str, bool]:
        """Commit hash -> whether its result file is complete, for this machine and env."""
        found: dict[str, bool] = {}
        for path in results.iter_result_files(self.config.results_dir, machine_name):
            if not path.name.endswith(f"-{results.safe_name(env_name)}.json"):
                continue
            try:
                run = results.load(path)
            except HistbenchError:
                continue  # a corrupt file is remeasured, never trusted
            if run.commit:
                found[run.commit.hash] = run.complete
        return found

    # -- running ----------------------------------------------------------------------------

    def run(self) -> RunReport:
        record = machine.collect(self.options.machine)
        envs = self.environments()
        report = RunReport(commits=[])
        if self.options.dry_run:
            for env in envs:
                commits, skipped = self.plan(env, record.name)
                report.commits += commits
                report.skipped_existing += skipped
            return report
        with results_lock(self.config.results_dir):
            plans = [(env, *self.plan(env, record.name)) for env in envs]
            machine.save(record, self.config.results_dir)
            for warning in record.noise_warnings():
                self._message(f"warning: {warning}")
            for env, commits, skipped in plans:
                report.commits += commits
                report.skipped_existing += skipped
                if commits:
                    self._run_env(env, commits, record.name, report)
        return report

    def _message(self, text: str) -> None:
        Progress(1, self.stream, live=False).message(text)

    def _run_env(self, env: Environment, commits: list[CommitInfo], machine_name: str,
                 report: RunReport) -> None:
        self.manager.create(env)
        repo_key = hashlib.sha256(str(self.config.repo_path.resolve()).encode()).hexdigest()
        checkout = BuildCheckout(self.config.repo_path,
                                 self.config.env_dir / "build" / repo_key[:12])
        calibration = Calibration(
            self.config.results_dir / results.safe_name(machine_name) / "calibration.json",
            env.name)
        progress = Progress(len(commits), self.stream)
        ctx = _Context(env, machine_name, checkout, calibration, progress, report,
                       quiet=QuietLevel(anchor=calibration.reference_level()))
        try:
            if self.options.interleave:
                self._interleaved(ctx, commits)
            else:
                self._sequential(ctx, commits)
        finally:
            progress.close()
            calibration.save()

    def _prepare(self, ctx: _Context, info: CommitInfo) -> Prepared:
        start = time.monotonic()
        wheel = self.manager.cached_wheel(ctx.env, info.hash)
        cached = wheel is not None
        try:
            build_dir = ctx.checkout.path
            if wheel is None or self.config.install_command:
                build_dir = ctx.checkout.checkout(info.hash)
            if wheel is None:
                wheel = self.manager.build(ctx.env, build_dir, info.hash)
            install_dir = self.manager.install(ctx.env, wheel, build_dir, info.hash)
        except BuildError as exc:
            ctx.progress.message(f"{info.short} failed to build: {exc}")
            return Prepared(info, None, {"status": "failed", "reason": str(exc),
                                         "log_tail": exc.log,
                                         "duration": time.monotonic() - start})
        return Prepared(info, install_dir, {"status": "ok", "cached": cached,
                                            "duration": time.monotonic() - start})

    def _suite(self, ctx: _Context, prepared: Prepared) -> Suite:
        if ctx.suite is None:
            suite = discover(ctx.env.python, self.config.benchmark_dir,
                             default_timeout=self.config.default_timeout,
                             env=ctx.env.worker_env(prepared.install_dir))
            ctx.suite = suite.select(self.options.bench)
            results.save_benchmark_info(self.config.results_dir,
                                        describe(ctx.suite.benchmarks))
            for err in ctx.suite.errors:
                ctx.progress.message(f"error: {err}")
        return ctx.suite

    def _merge_previous(self, ctx: _Context, info: CommitInfo,
                        found: list[results.BenchmarkResult]) -> list[results.BenchmarkResult]:
        """A run of some benchmarks (-b) adds to a commit's file; it never drops the
        results of the benchmarks it did not run."""
        if not self.options.bench:
            return found
        path = results.result_path(self.config.results_dir, ctx.machine, info.hash,
                                   ctx.env.name)
        try:
            old = results.load(path)
        except HistbenchError:
            return found
        fresh = {r.key for r in found}
        return [r for r in old.results if r.key not in fresh] + found

    def _record(self, ctx: _Context, prepared: Prepared, started: float,
                found: list[results.BenchmarkResult], complete: bool = True) -> Path:
        if prepared.ok:
            found = self._merge_previous(ctx, prepared.info, found)
        run = RunResults(
            machine=ctx.machine, env_name=ctx.env.name, commit=prepared.info,
            python=ctx.env.version, requirements=ctx.env.requirements,
            histbench_version=__version__, started_at=started, finished_at=time.time(),
            settings={**self.settings.to_dict(), "interleave": self.options.interleave,
                      "quick": self.options.quick},
            build=prepared.build, results=found,
            errors=[vars(e) for e in ctx.suite.errors] if ctx.suite else [],
            complete=complete, packages=ctx.packages.get(prepared.info.hash, {}))
        return results.save(run, self.config.results_dir)

    def _finish(self, ctx: _Context, prepared: Prepared, started: float,
                found: list[results.BenchmarkResult]) -> None:
        path = self._record(ctx, prepared, started, found)
        ctx.report.saved.append(path)
        if not prepared.ok:
            ctx.report.build_failures += 1
        ctx.report.bench_failures += sum(r.status == "failed" for r in found)
        ctx.calibration.keep_reference_level(ctx.quiet.anchor)
        ctx.calibration.save()

    def _sequential(self, ctx: _Context, commits: list[CommitInfo]) -> None:
        for i, info in enumerate(commits):
            started = time.time()
            ctx.progress.position(f"commit {i + 1}/{len(commits)} {info.short} building")
            prepared = self._prepare(ctx, info)
            found: list[results.BenchmarkResult] = []
            if prepared.ok:
                suite = self._suite(ctx, prepared)
                penv = self._penv(ctx, prepared)
                numbers = {b.name: ctx.calibration.numbers(b) for b in suite.benchmarks}

                def where(j: int, m: int, bench: BenchmarkSpec, i=i, info=info) -> None:
                    ctx.progress.position(
                        f"commit {i + 1}/{len(commits)} {info.short} benchmark {j + 1}/{m} "
                        f"{bench.name}")

                found = run_suite(penv, suite.benchmarks, self.settings, progress=where,
                                  numbers=numbers, quiet=ctx.quiet)
            self._finish(ctx, prepared, started, found)
            ctx.progress.advance()

    def _penv(self, ctx: _Context, prepared: Prepared) -> ProcessEnv:
        if prepared.ok and prepared.info.hash not in ctx.packages:
            if prepared.install_dir is None:  # installed into the env itself: ask it
                ctx.packages[prepared.info.hash] = installed_packages(
                    ctx.env.python, ctx.env.worker_env(None))
            else:
                if ctx.env_packages is None:  # one subprocess per environment, not commit
                    ctx.env_packages = installed_packages(ctx.env.python,
                                                          ctx.env.worker_env(None))
                ctx.packages[prepared.info.hash] = dict(sorted(
                    {**ctx.env_packages,
                     **unpacked_distributions(prepared.install_dir)}.items()))
        return ProcessEnv(python=ctx.env.python, benchmark_dir=self.config.benchmark_dir,
                          env=ctx.env.worker_env(prepared.install_dir))

    def _interleaved(self, ctx: _Context, commits: list[CommitInfo]) -> None:
        """Round r of every commit before round r+1 of any: slow drift of the machine
        (thermal, background load) then spreads over all commits instead of landing on
        whichever commit happened to run during it."""
        started = time.time()
        prepared = []
        for i, info in enumerate(commits):
            ctx.progress.position(f"building {i + 1}/{len(commits)} {info.short}")
            prepared.append(self._prepare(ctx, info))
        good = [p for p in prepared if p.ok]
        for p in prepared:
            if not p.ok:
                self._finish(ctx, p, started, [])
        if not good:
            return
        suite = self._suite(ctx, good[0])
        state = {p.info.hash: _CommitState() for p in good}
        total_rounds = max((self.settings.rounds_for(b) for b in suite.benchmarks), default=0)
        ctx.progress.total = max(1, total_rounds * len(good))
        with tempfile.TemporaryDirectory(prefix="histbench-caches-") as tmp:
            for r in range(total_rounds):
                for p in good:
                    ctx.progress.position(f"round {r + 1}/{total_rounds} {p.info.short}")
                    self._one_round(ctx, p, suite, r, state[p.info.hash], Path(tmp))
                    ctx.progress.advance()
                last = r == total_rounds - 1
                for p in good:
                    found = self._combine(suite, state[p.info.hash], ctx.quiet)
                    for result in found:
                        result.extra["batch"] = self.batch
                    if last:
                        self._finish(ctx, p, started, found)
                    else:
                        self._record(ctx, p, started, found, complete=False)

    def _one_round(self, ctx: _Context, p: Prepared, suite: Suite, r: int,
                   st: _CommitState, tmp: Path) -> None:
        penv = self._penv(ctx, p)
        for bench in suite.benchmarks:
            if r >= self.settings.rounds_for(bench) or bench.name in st.given_up:
                continue
            folder = tmp / p.info.hash
            folder.mkdir(exist_ok=True)
            cache = setup_cache_for(penv, bench, st.caches, folder)
            if cache is not None and cache.status != "ok":
                st.given_up[bench.name] = failed_results(
                    bench, cache.status, cache.reason or "", cache.stderr_tail)
                continue
            rounds = st.rounds.setdefault(bench.name, [])
            ok = surviving(bench, rounds)
            if not ok:
                continue
            numbers = ctx.calibration.numbers(bench)
            for outcome in run_round(penv, bench, ok, self.settings, numbers=numbers,
                                     cache_file=cache.path if cache else None, quiet=ctx.quiet):
                remember_numbers(numbers, outcome)
                rounds.append(outcome)

    @staticmethod
    def _combine(suite: Suite, st: _CommitState, quiet: QuietLevel
                 ) -> list[results.BenchmarkResult]:
        found = []
        for bench in suite.benchmarks:
            if bench.name in st.given_up:
                found += st.given_up[bench.name]
            elif bench.name in st.rounds:
                found += combine(bench, st.rounds[bench.name], quiet)
        return found


@dataclass
class _CommitState:
    rounds: dict[str, list[dict[int, Outcome]]] = field(default_factory=dict)
    caches: dict[str, CacheOutcome] = field(default_factory=dict)
    given_up: dict[str, list[results.BenchmarkResult]] = field(default_factory=dict)


@dataclass
class _Context:
    env: Environment
    machine: str
    checkout: BuildCheckout
    calibration: Calibration
    progress: Progress
    report: RunReport
    suite: Suite | None = None
    packages: dict[str, dict[str, str]] = field(default_factory=dict)
    env_packages: dict[str, str] | None = None
    quiet: QuietLevel = field(default_factory=QuietLevel)  # the machine's quiet speed
