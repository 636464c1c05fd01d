"""Which steps happened together: steps of different series at one commit, or within
``TOLERANCE`` commits of it, where a step's exact commit is uncertain (a step smaller than
about two noise SDs is often found a commit early or late). Positions are indices into
the history's commits, which are the commits with results."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence

TOLERANCE = 2  # commits either side of a cluster's centre


def clusters(positions: Sequence[int], tolerance: int = TOLERANCE) -> list[list[int]]:
    """Indices into ``positions`` grouped: the commit with the most steps within
    ``tolerance`` of it first takes all of them, then the next, so that a cluster never
    spans more than ``2 * tolerance`` commits (chaining would merge a week of runner
    changes into one). Clusters come out in commit order.

    A heap of candidate centres, refreshed lazily as steps are taken: O(k log k) in the
    number of steps, where recounting every centre after each cluster was cubic."""
    at: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(positions):
        at[p].append(i)
    counts = Counter({p: len(members) for p, members in at.items()})

    def near(p: int) -> int:
        return sum(counts[q] for q in range(p - tolerance, p + tolerance + 1))

    heap = [(-near(p), -counts[p], p) for p in counts]
    heapq.heapify(heap)
    found = []
    while heap:
        entry = heapq.heappop(heap)
        p = entry[2]
        if counts[p] == 0:
            continue
        fresh = (-near(p), -counts[p], p)
        if fresh != entry:
            heapq.heappush(heap, fresh)
            continue
        members = []
        for q in range(p - tolerance, p + tolerance + 1):
            if counts[q]:
                members += at[q]
                counts[q] = 0
        found.append(sorted(members))
    return sorted(found, key=lambda m: min(positions[i] for i in m))
