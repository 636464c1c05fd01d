"""The calibration file, ``<results>/<machine>/calibration.json``: its name and what a
sound one holds, for the runner that keeps it and for ``merge`` that joins the files of
several jobs. A damaged file is an error, never a fresh start: it holds the level every
result of its machine is normalised to, and a new level would put a false step into the
history at the commit where it changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError
from histbench.core.files import read_state_json

FILE_NAME = "calibration.json"
REFERENCE_KEY = "__reference_levels__"  # env -> normalisation level (reference seconds)
MAX_NUMBER = 10**9  # loops in one sample: more would run for hours, a sign of a bad edit
ADVICE = "delete it to start afresh (later results get a new normalisation level)"


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The calibration so far; {} before the first run; HistbenchError, with the advice,
    for a file that is not sound."""
    data = read_state_json(path, "calibration file", ADVICE)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise HistbenchError(f"{path}: not a histbench calibration file; {ADVICE}")
    found = problem(data)
    if found:
        raise HistbenchError(f"{path}: {found}; {ADVICE}")
    return data


def problem(data: dict) -> str | None:
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
