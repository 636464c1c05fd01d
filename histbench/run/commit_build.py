"""Commits built and installed into one environment, ready for its workers.

A commit that does not build is not an error of the run: its ``Prepared`` carries the
failed ``BuildRecord`` (with the log's tail) into its result file, and the run moves on.
"""

from __future__ import annotations

import hashlib
import time
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
        repo_key = hashlib.sha256(str(config.repo_path.resolve()).encode()).hexdigest()
        self.checkout = BuildCheckout(config.repo_path, config.env_dir / "build" / repo_key[:12])
        self.packages: dict[str, dict[str, str]] = {}  # commit -> distribution -> version
        self._env_packages: dict[str, str] | None = None

    def prepare(self, info: CommitInfo) -> Prepared:
        start = time.monotonic()
        wheel = self.wheels.cached_wheel(self.env, info.hash)
        cached = wheel is not None
        try:
            build_dir = self.checkout.path
            if wheel is None or self.config.install_command:
                build_dir = self.checkout.checkout(info.hash)
            if wheel is None:
                wheel = self.wheels.build(self.env, build_dir, info.hash)
            install_dir = self.wheels.install(self.env, wheel, build_dir, info.hash)
        except BuildError as exc:
            return Prepared(info, None, BuildRecord(
                BuildStatus.FAILED, reason=str(exc), log_tail=exc.log,
                duration=time.monotonic() - start))
        return Prepared(info, install_dir, BuildRecord(
            BuildStatus.OK, cached=cached, duration=time.monotonic() - start))

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
