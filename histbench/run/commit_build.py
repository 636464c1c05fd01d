"""Commits built and installed into one environment, ready for its workers.

A commit that does not build is not an error of the run: its ``Prepared`` carries the
failed ``BuildRecord`` (with the log's tail) into its result file, and the run moves on.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.config import Config
from histbench.run.environments import (
    BuildError,
    Environment,
    installed_packages,
    unpacked_distributions,
)
from histbench.run.git import BuildCheckout
from histbench.run.locks import exclusive, lock_dir, shared
from histbench.run.wheels import CommitWheels
from histbench.run.worker_process import ProcessEnv
from histbench.store.results import CommitInfo
from histbench.store.statuses import BuildRecord, BuildStatus


@dataclass(frozen=True)
class Prepared:
    """A commit ready to measure: where its build is importable from, or why it is not."""

    info: CommitInfo
    install_dir: Path | None = None
    build: BuildRecord = field(default_factory=BuildRecord)

    @property
    def ok(self) -> bool:
        return self.build.ok


class CommitBuilder:
    """Builds (through the wheel cache) and installs one environment's commits, and
    remembers which distributions each installed commit's workers see."""

    def __init__(self, config: Config, wheels: CommitWheels, env: Environment):
        self.config, self.wheels, self.env = config, wheels, env
        repo_key = hashlib.sha256(str(config.repo_path.resolve()).encode()).hexdigest()[:12]
        self.clone_path = config.env_dir / "build" / repo_key
        self.clone_lock = lock_dir(config.env_dir) / f"build-{repo_key}.lock"
        self._checkout: BuildCheckout | None = None
        self._in_use = ExitStack()  # shared holds on every install this run measures with
        self._in_use_paths: set[Path] = set()  # one descriptor a lock file, however many
        self._env_hold = ExitStack()  # with install_command: the env, while one commit's in it
        self.packages: dict[str, dict[str, str]] = {}  # commit -> distribution -> version
        self._env_packages: dict[str, str] | None = None

    def prepare(self, info: CommitInfo) -> Prepared:
        """Build (or take from the cache) and install one commit. Under the commit's lock,
        so runs sharing ``env_dir`` build it once and never half-read each other's work."""
        start = time.monotonic()
        self._env_hold.close()
        if self.config.install_command:
            # installed *into* the env: another run sharing it must not install its own
            # commit there until this one is measured (the next prepare, or close)
            self._env_hold.enter_context(exclusive(self.wheels.envs.lock_path(self.env)))
        try:
            with self.wheels.commit_lock(self.env, info.hash):
                install_dir, cached = self._prepare(info.hash)
                self._hold_in_use(info.hash)
        except BuildError as exc:
            return Prepared(info, None, BuildRecord(
                BuildStatus.FAILED, reason=str(exc), log_tail=exc.log,
                duration=time.monotonic() - start))
        return Prepared(info, install_dir, BuildRecord(
            BuildStatus.OK, cached=cached, duration=time.monotonic() - start))

    def _hold_in_use(self, sha: str) -> None:
        path = self.wheels.in_use_path(self.env, sha)
        if path not in self._in_use_paths:
            self._in_use.enter_context(shared(path))
            self._in_use_paths.add(path)

    def close(self) -> None:
        """The run is over with this environment: its installs may be evicted again."""
        self._env_hold.close()
        self._in_use.close()
        self._in_use_paths.clear()

    def _prepare(self, sha: str) -> tuple[Path | None, bool]:
        wheel = self.wheels.cached_wheel(self.env, sha)
        if wheel is not None and not self.config.install_command:
            return self.wheels.install(self.env, wheel, self.clone_path, sha), True
        # The clone is checked out at one commit at a time: one run uses it at a time.
        with exclusive(self.clone_lock):
            build_dir = self.checkout().checkout(sha)
            cached = wheel is not None
            if wheel is None:
                wheel = self.wheels.build(self.env, build_dir, sha)
            return self.wheels.install(self.env, wheel, build_dir, sha), cached

    def checkout(self) -> BuildCheckout:
        """The private clone (call under ``clone_lock``), cloned on first use into a
        temporary folder renamed into place, so a killed clone is never taken for one."""
        if self._checkout is None:
            if not (self.clone_path / ".git").exists():
                tmp = self.clone_path.with_name(f"{self.clone_path.name}.tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                BuildCheckout(self.config.repo_path, tmp)
                shutil.rmtree(self.clone_path, ignore_errors=True)
                tmp.rename(self.clone_path)
            self._checkout = BuildCheckout(self.config.repo_path, self.clone_path)
        return self._checkout

    def process_env(self, prepared: Prepared) -> ProcessEnv:
        """Where the commit's workers run; the first call for a commit also records the
        distributions they see."""
        if prepared.ok and prepared.info.hash not in self.packages:
            self.packages[prepared.info.hash] = self._distributions(prepared.install_dir)
        return ProcessEnv(python=self.env.python, benchmark_dir=self.config.benchmark_dir,
                          env=self.env.worker_env(prepared.install_dir))

    def _distributions(self, install_dir: Path | None) -> dict[str, str]:
        if install_dir is None:  # installed into the env itself: ask it
            return installed_packages(self.env.python, self.env.worker_env(None))
        if self._env_packages is None:  # one subprocess per environment, not commit
            self._env_packages = installed_packages(self.env.python, self.env.worker_env(None))
        return dict(sorted({**self._env_packages,
                            **unpacked_distributions(install_dir)}.items()))
