"""Loop counts and the reference level, kept per machine and environment across runs.

A benchmark timed with 1000 loops at one commit and 10000 at the next has changed in a
way that is not the code's doing; so the counts calibrated once are reused by every later
round, commit and run (``<results>/<machine>/calibration.json``), until the benchmark's
own code changes.
"""

from __future__ import annotations

from pathlib import Path

from histbench.run.suite import BenchmarkSpec
from histbench.store import calibration_file, results
from histbench.store.calibration_file import REFERENCE_KEY


class Calibration:
    """Loop counts per benchmark, kept across commits and runs so all are timed alike
    (a benchmark's edited version invalidates its counts)."""

    def __init__(self, path: Path, env: str):
        self.path, self.env = path, env
        self.data = calibration_file.read(path)

    @classmethod
    def of(cls, results_dir: Path, machine: str, env: str) -> Calibration:
        return cls(Path(results_dir) / results.safe_name(machine) / calibration_file.FILE_NAME,
                   env)

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
