"""Which steps happened together: steps of different series at one commit, or within
``TOLERANCE`` commits of it, where a step's exact commit is uncertain (a step smaller than
about two noise SDs is often found a commit early or late)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

TOLERANCE = 2  # commits with results either side of a cluster's centre


def clusters(positions: Sequence[int], tolerance: int = TOLERANCE) -> list[list[int]]:
    """Indices into ``positions`` grouped: the commit with the most steps first takes
    every step within ``tolerance`` of it, then the next, so that a cluster never spans
    more than ``2 * tolerance`` commits (chaining would merge a week of runner changes
    into one). Clusters come out in commit order."""
    left = set(range(len(positions)))
    found = []
    while left:
        counts = Counter(positions[i] for i in left)
        centre = min(counts, key=lambda p: (-_near(counts, p, tolerance), -counts[p], p))
        members = sorted(i for i in left if abs(positions[i] - centre) <= tolerance)
        found.append(members)
        left -= set(members)
    return sorted(found, key=lambda m: min(positions[i] for i in m))


def _near(counts: Counter, centre: int, tolerance: int) -> int:
    return sum(n for p, n in counts.items() if abs(p - centre) <= tolerance)
