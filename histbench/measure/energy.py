"""Energy per call of a timed benchmark: RAPL counters where readable, else an estimate.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import os
import time

from . import worker_spec as _spec


class EnergyMeter:
    """Joules spent by the timed loop: RAPL counters where readable, else an estimate.

    RAPL (``<powercap>/intel-rapl:N/energy_uj``, one per CPU package; AMD exposes the same
    files) counts the whole package, so the figure includes whatever else runs on the
    machine: it is a measurement of the machine during the benchmark, not of the
    benchmark alone. Without readable counters (VMs, containers, non-root), the estimate
    is CPU seconds times a configured watts per core, and it is always flagged
    ``estimated`` so no one mistakes it for a measurement.
    """

    def __init__(self, cfg: _spec.EnergyConfig):
        root = cfg.get("powercap_root") or "/sys/class/powercap"
        self.watts = float(cfg.get("watts_per_core") or 10.0)
        self.zones = self._packages(root)
        self.total_uj: int | None = 0 if self.zones else None
        self.cpu_seconds = 0.0
        self.mark_uj: list[int] | None = None
        self.mark_cpu = 0.0

    def begin(self) -> None:
        """Before a sample: only the samples' energy is counted, not the reference loop
        timed between them."""
        self.mark_uj = self._read()
        self.mark_cpu = time.process_time()

    def end(self) -> float:
        """After a sample: add what it spent; returns its CPU seconds (for its CPU share).
        Counters are read around every sample, so one that wraps during a long round is
        seen to wrap each time."""
        cpu = time.process_time() - self.mark_cpu
        self.cpu_seconds += cpu
        now = self._read()
        if now is None or self.mark_uj is None or self.total_uj is None:
            self.total_uj = None
            return cpu
        for (_, wrap), a, b in zip(self.zones, self.mark_uj, now):  # noqa: B905 (py<3.10)
            self.total_uj += b - a if b >= a else b + wrap - a  # the counter wrapped
        return cpu

    @staticmethod
    def _packages(root: str) -> list[tuple[str, int]]:
        zones = []
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return []
        for name in names:
            # intel-rapl:0 is a package; intel-rapl:0:0 a sub-zone already counted in it.
            if name.count(":") != 1 or not name.startswith(("intel-rapl", "amd-rapl")):
                continue
            path = os.path.join(root, name, "energy_uj")
            try:
                with open(os.path.join(root, name, "max_energy_range_uj")) as f:
                    wrap = int(f.read().strip())
            except (OSError, ValueError):
                wrap = 0
            if os.access(path, os.R_OK):
                zones.append((path, wrap))
        return zones

    def _read(self) -> list[int] | None:
        if not self.zones:
            return None
        try:
            values = []
            for path, _ in self.zones:
                with open(path) as f:
                    values.append(int(f.read().strip()))
            return values
        except (OSError, ValueError):
            return None

    def per_call(self, calls: int) -> dict | None:
        if calls <= 0:
            return None
        if self.total_uj is not None:
            return {"joules_per_call": self.total_uj / 1e6 / calls, "source": "rapl",
                    "estimated": False}
        return {"joules_per_call": self.cpu_seconds * self.watts / calls,
                "source": "cpu-time estimate",
                "estimated": True, "watts_per_core": self.watts}
