"""What every part of the step detector shares: the step it reports, and the two sizes that
bound where a step can be and what its test sees."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIN_SEGMENT = 3  # commits with data on each side of a step, at least
WINDOW = 50  # commits with data each side of a step that its test compares, at most


@dataclass(frozen=True)
class Step:
    """A change of level: ``series[index]`` is the first commit at the new level.

    ``before`` and ``after`` are the levels on both sides of the step (in the samples'
    units; with a drift, both are taken at the step), ``ratio`` is after / before and
    ``p_value`` is adjusted for all the commits of the history (family-wise).
    ``last_good`` is the last commit with data before ``index``.
    """

    index: int
    before: float
    after: float
    ratio: float
    p_value: float
    last_good: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
