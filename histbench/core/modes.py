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
