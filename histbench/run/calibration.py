"""Loop counts and the reference level, kept per machine and environment across runs.

A benchmark timed with 1000 loops at one commit and 10000 at the next has changed in a
way that is not the code's doing; so the counts calibrated once are reused by every later
round, commit and run (``<results>/<machine>/calibration.json``), until the benchmark's
own code changes.
"""

from __future__ import annotations

from pathlib import Path

from histbench.core.errors import HistbenchError
from histbench.core.files import read_state_json
from histbench.run.suite import BenchmarkSpec
from histbench.store import results

REFERENCE_KEY = "__reference_levels__"  # calibration.json: env -> normalisation level


class Calibration:
    """Loop counts per benchmark, kept across commits and runs so all are timed alike
    (a benchmark's edited version invalidates its counts)."""

    def __init__(self, path: Path, env: str):
        self.path, self.env = path, env
        self.data = _read(path)

    @classmethod
    def of(cls, results_dir: Path, machine: str, env: str) -> Calibration:
        return cls(Path(results_dir) / results.safe_name(machine) / "calibration.json", env)

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


def _read(path: Path) -> dict:
    """The calibration so far; none before the first run. A damaged file is an error, not
    a fresh start: it holds the level every result of this machine is normalised to, and a
    new level would put a false step into the history at this commit."""
    advice = "delete it to start afresh (later results get a new normalisation level)"
    data = read_state_json(path, "calibration file", advice)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise HistbenchError(f"{path}: not a histbench calibration file; {advice}")
    problem = _problem(data)
    if problem:
        raise HistbenchError(f"{path}: {problem}; {advice}")
    return data


MAX_NUMBER = 10**9  # loops in one sample: more would run for hours, a sign of a bad edit


def _problem(data: dict) -> str | None:
    """What in a parsed calibration file cannot be right: a reference level that is not a
    positive number (dropping it silently would renormalise the history: a false step),
    a loop count that is not a positive integer (the benchmark would be blamed for it)."""
    for env, level in data.get(REFERENCE_KEY, {}).items():
        if isinstance(level, bool) or not isinstance(level, (int, float)) \
                or not 0 < level < float("inf"):
            return f"reference level {level!r} of {env} is not a positive number"
    for env, benches in data.items():
        if env == REFERENCE_KEY:
            continue
        for name, entry in benches.items():
            numbers = entry.get("numbers") if isinstance(entry, dict) else None
            if not isinstance(numbers, dict):
                return f"entry of {name} ({env}) has no loop counts"
            for index, n in numbers.items():
                if not index.isdigit() or isinstance(n, bool) or not isinstance(n, int) \
                        or not 1 <= n <= MAX_NUMBER:
                    return (f"loop count {n!r} of {name} ({env}, parameter set {index}) is "
                            f"not an integer from 1 to {MAX_NUMBER}")
    return None
