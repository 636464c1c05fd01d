"""The history runner: build each commit, run the suite against it, save as you go.

What matters here is what survives: each commit's results are written the moment that
commit is done, atomically, so Ctrl-C, a kill or a crash costs at most the commit in
flight, and ``--skip-existing`` picks up where the run stopped. A commit that does not
build is saved as such (with its log tail) and the run moves on. The roles: which
commits (commit_plan), building them (commit_build), in what order (schedules), saving
(env_run), loop counts kept across runs (calibration).
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.modes import MeasureMode
from histbench.run import valgrind
from histbench.run.calibration import Calibration
from histbench.run.commit_build import CommitBuilder
from histbench.run.commit_plan import RunOptions, plan_commits
from histbench.run.env_run import EnvRun, RunReport
from histbench.run.environments import Environment, EnvManager, distinct
from histbench.run.progress import Progress
from histbench.run.rounds import QuietLevel, Settings
from histbench.run.schedules import Interleaved, Schedule, Sequential
from histbench.run.wheels import CommitWheels
from histbench.store import machine
from histbench.store.results import CommitInfo
from histbench.store.shards import ShardLabel

__all__ = ["RunOptions", "RunReport", "Runner", "results_lock"]


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


class Runner:
    def __init__(self, config: Config, options: RunOptions, progress_stream=None):
        self.config = config
        self.options = options
        self.stream = progress_stream
        self.settings = Settings.quick() if options.quick else options.settings
        self.settings.measure = options.settings.measure
        self.settings.default_measure = config.measure
        if self.settings.energy is None:
            self.settings.energy = config.energy
        if not config.reject_disturbed:
            self.settings.reject_disturbed = False
        self.manager = EnvManager(config.env_dir, kind=config.environment_type,
                                  project=config.project)
        self.wheels = CommitWheels(self.manager, build_command=config.build_command,
                                   install_command=config.install_command,
                                   cache_size=config.wheel_cache_size)
        # Results measured together carry one batch id: bisect may reuse them as evidence
        # only for commits of the same batch (bisect.earlier_batches).
        self.batch = uuid.uuid4().hex[:16] if options.interleave else None
        if options.interleave and config.install_command:
            raise HistbenchError("--interleave needs the default install (install_command is "
                                 "set: each round would reinstall every commit)")
        self.schedule: Schedule = Interleaved(self.batch) if options.interleave \
            else Sequential()
        # env -> this run's shard label, and whether its overlap commit is for overlap/ only
        self.shards: dict[str, tuple[ShardLabel | None, bool]] = {}
        self.fingerprint: dict = {}

    def environments(self) -> list[Environment]:
        """One per python and combination of asv's matrix (less what ``exclude`` rules out,
        plus each ``include``): the matrix's requirements over ``requirements`` (null: not
        installed), its variables set for the workers. With --python, that python's only."""
        wanted = self.options.python
        envs = []
        for combo in self.config.combinations([wanted] if wanted else None):
            if wanted and combo.python != wanted:
                continue  # an include for another python
            requirements = dict(self.config.requirements)
            for package, spec in combo.requirements:
                if spec is None:
                    requirements.pop(package, None)
                else:
                    requirements[package] = spec
            envs.append(self.manager.environment(
                combo.python, requirements, env_vars=dict(combo.env_vars),
                build_env_vars=dict(combo.build_env_vars), conf_dir=self.config.root))
        if not envs:
            raise HistbenchError(f"{self.config.path}: the matrix leaves no environment to "
                                 "measure in (every combination excluded)")
        return distinct(envs)

    def plan(self, env: Environment, machine_name: str) -> tuple[list[CommitInfo], int]:
        plan = plan_commits(self.config, self.options, env.name, machine_name)
        self.shards[env.name] = (plan.shard, plan.overlap_only)
        return plan.commits, plan.skipped

    def run(self) -> RunReport:
        if MeasureMode.INSTRUCTIONS.value in (self.settings.measure, self.config.measure):
            valgrind.prepare()  # a missing valgrind is said now, before anything is built
        record = machine.collect(self.options.machine)
        self.fingerprint = record.fingerprint()
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
            missing = machine.missing_record(self.config.results_dir, record.name)
            # another runner of the same name: a warning, never a refusal (docs/ci.md)
            changed = machine.record_for_run(record, self.config.results_dir)
            for line in changed:
                Progress(1, self.stream, live=False).message(f"warning: {line}")
            if missing:  # a damaged record stopped save(); a missing one is made anew
                Progress(1, self.stream, live=False).message(
                    f"warning: {missing}: recorded this machine anew; the results already "
                    "there may have been measured on another")
            for warning in record.noise_warnings():
                Progress(1, self.stream, live=False).message(f"warning: {warning}")
            for env, commits, skipped in plans:
                report.commits += commits
                report.skipped_existing += skipped
                if commits:
                    self._run_env(env, commits, record.name, report)
        return report

    def _run_env(self, env: Environment, commits: list[CommitInfo], machine_name: str,
                 report: RunReport) -> None:
        self.manager.create(env)
        builder = CommitBuilder(self.config, self.wheels, env)
        calibration = Calibration.of(self.config.results_dir, machine_name, env.name)
        progress = Progress(len(commits), self.stream)
        ctx = EnvRun(self.config, self.options, self.settings, machine_name, builder,
                     calibration, progress, report,
                     quiet=QuietLevel(anchor=calibration.reference_level()),
                     fingerprint=self.fingerprint, shard=self.shards[env.name][0],
                     overlap_only=self.shards[env.name][1])
        try:
            self.schedule.run(ctx, commits)
        finally:
            builder.close()
            progress.close()
            calibration.save()
