"""What a sample counts: wall time (the default) or instructions under Valgrind.

Chosen at three levels, the most specific user intent first: ``--measure`` on the command
line, then a benchmark's own ``measure`` attribute, then the config's ``measure`` key.
Instruction counts apply to ``time_`` benchmarks; the other kinds measure as always.
"""

from __future__ import annotations

from enum import Enum


class MeasureMode(str, Enum):
    TIME = "time"
    INSTRUCTIONS = "instructions"

    def __str__(self) -> str:
        return self.value


MODES = tuple(m.value for m in MeasureMode)


def effective_mode(cli: str | None, benchmark: str | None, config: str | None,
                   kind: str) -> MeasureMode:
    """The mode one benchmark is measured in; instructions only for ``time_`` kinds."""
    chosen = MeasureMode(cli or benchmark or config or MeasureMode.TIME.value)
    return chosen if kind == "time" else MeasureMode.TIME


# Kinds whose samples are counts under Valgrind (run/combine.py writes them): near-identical
# repeats, so a test on their spread alone would call a change of a few parts per million
# significant. Their noise is taken as at least COUNT_FLOOR (relative, per sample), and no
# step smaller than that is reported: unrelated code moving a loop's alignment shifts a
# count by less.
COUNT_KINDS = ("instructions", "cycles")
COUNT_FLOOR = 0.001


def count_floor(kind: str) -> float:
    """The relative noise floor of a kind's samples: COUNT_FLOOR for counts, else none."""
    return COUNT_FLOOR if kind in COUNT_KINDS else 0.0


def count_series_name(name: str, kind: str) -> str:
    """The series a time_ benchmark's counts are stored as: ``mod.time_x@instructions``,
    one series a figure, never mixed with the benchmark's time series."""
    return f"{name}@{kind}"


def benchmark_of(series_name: str) -> tuple[str, str | None]:
    """(the suite's benchmark name, the count kind) of a series name; kind None for a
    series of the benchmark's own kind (time, track, ...)."""
    name, sep, kind = series_name.rpartition("@")
    if sep and kind in COUNT_KINDS:
        return name, kind
    return series_name, None
