"""The disturbance gauge: how long a round of time_ samples goes on.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import time

from . import disturbance as _rule
from . import worker_spec as _spec


class Gauge:
    """Times the reference loop around every sample, and keeps sampling through a burst.

    The parent decides which samples were disturbed, by the rule in disturbance.py; the
    worker applies the same rule only to decide *how long* to sample: a round goes on
    until it has its usual number of undisturbed samples, or until it has spent ``wait``
    seconds on disturbed ones (then the parent sees the disturbance and may run the round
    again). Bursts on shared machines last seconds, so a few seconds of waiting usually
    see one out. ``{"enabled": False}`` turns both off: every sample counts, as before.
    """

    def __init__(self, cfg: _spec.GaugeConfig):
        self.enabled = bool(cfg.get("enabled", True))
        self.level = cfg.get("level")  # the quietest reference level earlier rounds saw
        self.wait = float(cfg.get("wait", _rule.WAIT_SECONDS))
        self.samples: list[float] = []
        self.cpu_shares: list[float | None] = []
        self.references: list[float] = []
        if self.enabled:
            self.references.append(_rule.reference_seconds(time.perf_counter))
        self.clean = 0
        self.disturbed_time = 0.0
        self.best_share = 0.0  # the typical share of disturbance.typical_share, so far

    def wants_more(self, lo: int, hi: int, budget: float, elapsed: float) -> bool:
        if not self.enabled:
            n = len(self.samples)
            return n < hi and (n < lo or elapsed < budget)
        if self.clean >= hi or (self.clean >= lo and elapsed >= budget):
            return False
        return not (self.disturbed_time >= self.wait and len(self.samples) >= lo)

    def record(self, sample: float, cpu_share: float | None, elapsed: float) -> None:
        self.samples.append(sample)
        self.cpu_shares.append(cpu_share)
        if not self.enabled:
            return
        self.references.append(_rule.reference_seconds(time.perf_counter))
        if cpu_share is not None:
            self.best_share = max(self.best_share, cpu_share)
        level = _rule.quiet_level(self.references, self.level)
        slower = _rule.beside(self.references, len(self.samples) - 1)
        if _rule.sample_disturbed(slower, cpu_share, level, self.best_share):
            self.disturbed_time += elapsed
        else:
            self.clean += 1
