"""One environment's part of a run, and the report of the whole run.

What survives is what matters: each commit's results are written the moment that commit
is done, atomically, so Ctrl-C, a kill or a crash costs at most the commit in flight, and
``--skip-existing`` picks up where the run stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from histbench import __version__
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode
from histbench.run.calibration import Calibration
from histbench.run.commit_build import CommitBuilder, Prepared
from histbench.run.commit_plan import RunOptions
from histbench.run.progress import Progress
from histbench.run.settings import QuietLevel, Settings
from histbench.run.suite import Suite, describe, discover
from histbench.store import results, shards
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults
from histbench.store.shards import ShardLabel
from histbench.store.statuses import Status


@dataclass
class RunReport:
    commits: list[CommitInfo]
    saved: list[Path] = field(default_factory=list)
    build_failures: int = 0
    bench_failures: int = 0
    skipped_existing: int = 0
    # Suite files that did not import (or whose import of the project failed): their
    # benchmarks were never measured, which is a failure even though none was recorded.
    suite_errors: int = 0

    @property
    def exit_code(self) -> ExitCode:
        if self.build_failures:
            return ExitCode.BUILD_FAILED
        if self.bench_failures or self.suite_errors:
            return ExitCode.BENCHMARK_FAILED
        return ExitCode.OK


@dataclass
class EnvRun:
    """What building, measuring and saving one environment's commits share; the suite is
    discovered with the first commit that builds (discovery imports the project)."""

    config: Config
    options: RunOptions
    settings: Settings
    machine: str
    builder: CommitBuilder
    calibration: Calibration
    progress: Progress
    report: RunReport
    quiet: QuietLevel = field(default_factory=QuietLevel)  # the machine's quiet speed
    suite: Suite | None = None
    suite_names: list[str] = field(default_factory=list)  # the whole suite, before -b
    fingerprint: dict = field(default_factory=dict)  # this machine's hardware (machine.py)
    shard: ShardLabel | None = None  # --shard: stored with each result (store/shards.py)
    overlap_only: bool = False  # the shard's overlap commit goes to overlap/ alone

    def prepare(self, info: CommitInfo) -> Prepared:
        prepared = self.builder.prepare(info)
        if not prepared.ok:
            self.progress.message(f"{info.short} failed to build: {prepared.build.reason}")
        return prepared

    def suite_for(self, prepared: Prepared) -> Suite:
        if self.suite is None:
            env = self.builder.env
            suite = discover(env.python, self.config.benchmark_dir,
                             default_timeout=self.config.default_timeout,
                             env=env.worker_env(prepared.install_dir))
            self.suite = suite.select(self.options.bench)
            self.suite_names = sorted(b.name for b in suite.benchmarks)
            results.save_benchmark_info(self.config.results_dir, describe(self.suite.benchmarks))
            self.report.suite_errors = len(self.suite.errors)
            for err in self.suite.errors:
                self.progress.message(f"error: {err}")
            for warning in self.suite.warnings:
                self.progress.message(f"warning: {warning}")
        return self.suite

    def record(self, prepared: Prepared, started: float, found: list[BenchmarkResult],
               complete: bool = True) -> Path:
        env = self.builder.env
        if prepared.ok:
            found = self._merge_previous(prepared.info, found)
        run = RunResults(
            machine=self.machine, env_name=env.name, commit=prepared.info,
            python=env.version, requirements=env.requirements,
            histbench_version=__version__, started_at=started, finished_at=time.time(),
            settings={**self.settings.to_dict(), "interleave": self.options.interleave,
                      "quick": self.options.quick,
                      **({shards.SETTINGS_KEY: self.shard.to_dict()} if self.shard else {})},
            build=prepared.build, results=found,
            errors=[vars(e) for e in self.suite.errors] if self.suite else [],
            complete=complete, packages=self.builder.packages.get(prepared.info.hash, {}),
            suite=self.suite_names, env_vars=dict(env.env_vars),
            fingerprint=self.fingerprint)
        if self._overlap(prepared.info):
            path = shards.save_overlap(run, self.config.results_dir)
            if self.overlap_only:  # another shard's commit, or one measured already
                return path
        return results.save(run, self.config.results_dir)

    def _overlap(self, info: CommitInfo) -> bool:
        return self.shard is not None and info.hash == self.shard.anchor

    def _path(self, info: CommitInfo) -> Path:
        if self._overlap(info) and self.overlap_only:
            return shards.overlap_path(self.config.results_dir, self.machine, info.hash,
                                       self.builder.env.name, self.shard)
        return results.result_path(self.config.results_dir, self.machine, info.hash,
                                   self.builder.env.name)

    def finish(self, prepared: Prepared, started: float, found: list[BenchmarkResult]) -> None:
        """The commit's last save: counted in the report, calibration kept with it."""
        path = self.record(prepared, started, found)
        self.report.saved.append(path)
        if not prepared.ok:
            self.report.build_failures += 1
        self.report.bench_failures += sum(r.status == Status.FAILED for r in found)
        self.calibration.keep_reference_level(self.quiet.anchor)
        self.calibration.save()

    def _merge_previous(self, info: CommitInfo,
                        found: list[BenchmarkResult]) -> list[BenchmarkResult]:
        """A run of some benchmarks (-b) adds to a commit's file; it never drops the
        results of the benchmarks it did not run."""
        if not self.options.bench:
            return found
        path = self._path(info)
        try:
            old = results.load(path)
        except HistbenchError:
            return found
        fresh = {r.key for r in found}
        return [r for r in old.results if r.key not in fresh] + found
