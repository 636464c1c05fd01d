"""What a run asks of every worker: the timing overrides, and the machine's quiet speed.

Both outlive one worker process: the settings steer every round of every commit, and the
quiet level learned in one round judges the samples of the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from histbench.core.modes import MeasureMode, effective_mode
from histbench.measure import disturbance
from histbench.measure.worker_spec import DEFAULTS, GaugeConfig, RunConfig
from histbench.run.suite import BenchmarkSpec

if TYPE_CHECKING:
    from histbench.run.worker_process import Outcome


INSTRUCTION_ROUNDS = 1  # processes per benchmark in instruction mode, by default


@dataclass
class Settings:
    """Overrides of the suite's timing attributes for a whole run (None = the suite's own)."""

    rounds: int | None = None
    repeat: Any = None
    number: int | None = None
    warmup_time: float | None = None
    sample_time: float | None = None
    energy: dict[str, Any] | None = None  # powercap_root, watts_per_core
    # Leave out samples taken while the machine was disturbed, and wait out bursts for
    # up to disturbance_wait seconds a round (disturbance.py); False counts every sample.
    reject_disturbed: bool = True
    disturbance_wait: float | None = None
    measure: str | None = None  # --measure: overrides the suite's and the config's
    default_measure: str | None = None  # the config's ``measure`` key

    def mode_for(self, bench: BenchmarkSpec) -> MeasureMode:
        """What ``bench`` is measured in (core/modes.py: command line, suite, config)."""
        return effective_mode(self.measure, bench.measure, self.default_measure, bench.kind)

    @classmethod
    def quick(cls) -> Settings:
        """One sample of one call: a smoke test that every benchmark still runs."""
        return cls(rounds=1, repeat=1, number=1, warmup_time=0.0, disturbance_wait=0.0)

    def rounds_for(self, bench: BenchmarkSpec) -> int:
        """The run's rounds, else the suite's; in instruction mode one process unless the
        suite sets ``rounds`` (to anything but the default, which is all discovery tells
        apart): counts repeat across processes, so more would only cost Valgrind starts."""
        if self.rounds is None and bench.rounds == DEFAULTS["rounds"] \
                and self.mode_for(bench) == MeasureMode.INSTRUCTIONS:
            return INSTRUCTION_ROUNDS
        return max(1, self.rounds if self.rounds is not None else bench.rounds)

    def worker_config(self, bench: BenchmarkSpec, numbers: dict[int, int],
                      quiet: QuietLevel | None = None) -> RunConfig:
        """``numbers``: loop counts calibrated earlier, per parameter set, reused so that
        every round and every commit times the same amount of work."""
        gauge = GaugeConfig(enabled=self.reject_disturbed,
                            level=quiet.seconds if quiet else None)
        if self.disturbance_wait is not None:
            gauge["wait"] = self.disturbance_wait
        cfg = RunConfig(rounds=self.rounds_for(bench), gauge=gauge,
                        numbers={str(i): n for i, n in numbers.items()})
        for key in ("repeat", "warmup_time", "sample_time", "number", "energy"):
            value = getattr(self, key)
            if value is not None:
                cfg[key] = value  # type: ignore[literal-required]
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class QuietLevel:
    """The machine's quiet speed, as reference-loop seconds, for one run in one environment.

    ``seconds``: the quietest level seen so far, which rejection judges against, so that a
    round spent entirely in a burst is judged against the machine's quiet speed, not
    against itself. ``anchor``: the level samples are normalised to. It never changes
    during a run (a level that dropped half-way would scale every later commit down: a
    false step), and the runner keeps it across runs of the machine and environment
    (calibration.json), so that nightly runs share one scale.
    """

    seconds: float | None = None
    anchor: float | None = None

    def update(self, outcomes: dict[int, Outcome]) -> None:
        for out in outcomes.values():
            self.seconds = disturbance.quiet_level(out.references, self.seconds)
        if self.anchor is None:
            self.anchor = self.seconds
