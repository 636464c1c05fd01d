"""The boundary search: candidate boundaries pruned weakest first until every one left is
strong enough, each then moved to where it best splits its two segments."""

from __future__ import annotations

import heapq
import math

from histbench.analysis.steps.base import WINDOW
from histbench.analysis.steps.fit import Fit


class _Chain:
    """Boundaries by id, 1 to m (0 and m + 1 stand for the history's two ends), in a doubly
    linked list with their positions: dropping one, or moving one, is O(1)."""

    def __init__(self, cands: list[int], n: int):
        self.m = len(cands)
        self.pos = [0, *cands, n]
        self.prev = list(range(-1, self.m + 1))
        self.next = list(range(1, self.m + 3))
        self.alive = [True] * (self.m + 2)

    def drop(self, k: int) -> tuple[int, int]:
        """Unlink boundary ``k``; returns its neighbours, now each other's."""
        self.alive[k] = False
        p, q = self.prev[k], self.next[k]
        self.next[p], self.prev[q] = q, p
        return p, q

    def around(self, k: int) -> list[int]:
        """Boundary ``k`` and its living neighbours within two links (no ends)."""
        out = [k]
        j = self.prev[k]
        for _ in range(2):
            if j <= 0:
                break
            out.append(j)
            j = self.prev[j]
        j = self.next[k]
        for _ in range(2):
            if j > self.m:
                break
            out.append(j)
            j = self.next[j]
        return out

    def ids(self) -> list[int]:
        """The living boundaries, in history order."""
        out = []
        k = self.next[0]
        while k <= self.m:
            out.append(k)
            k = self.next[k]
        return out


class Boundaries:
    """Candidate boundaries, pruned weakest first.

    The cost of a boundary is how much worse the fit gets without it (in units of the
    noise variance: a chi-square with one degree of freedom, for a fixed position) when
    one of its neighbours may move to make up for it. Without that move, a step that the
    candidates bracket (one boundary a commit early, one a commit late, a two-commit
    segment in between at a middle level) would survive as two steps.
    """

    def __init__(self, fit: Fit, cands: list[int], crit: float):
        self.fit = fit
        self.crit = crit
        self.chain = _Chain(cands, fit.n)
        m = self.chain.m
        self.version = [0] * (m + 2)
        self.move: list[tuple[int, int]] = [(-1, -1)] * (m + 2)
        self.heap: list[tuple[float, int, int]] = []
        self.dirty: set[int] = set()
        for k in range(1, m + 1):
            self._push(k)

    def _push(self, k: int) -> None:
        self.version[k] += 1
        cost, move, at = self._cost(k, self.crit)
        self.move[k] = (move, at)
        heapq.heappush(self.heap, (cost, k, self.version[k]))

    def _cost(self, k: int, crit: float) -> tuple[float, int, int]:
        """(cost, neighbour to move or -1, its new position).

        A boundary that goes anyway (its cost is below ``crit`` without any move) is not
        looked at further.
        """
        fit, chain = self.fit, self.chain
        pos, rss = chain.pos, fit.rss
        p, q = chain.prev[k], chain.next[k]
        lo, c, hi = pos[p], pos[k], pos[q]
        a, b = max(lo, c - WINDOW), min(hi, c + WINDOW)
        right = rss(c, b)
        best = (rss(a, b) - rss(a, c) - right, -1, -1)
        infl = fit.inflation(c, lo, hi)
        if best[0] * infl < crit:
            return max(best[0], 0.0) * infl, -1, -1
        if p > 0:  # drop k, move the left neighbour anywhere between its neighbours
            a2 = max(pos[chain.prev[p]], lo - WINDOW)
            at, total = fit.best_split(a2, b)
            delta = total - (rss(a2, lo) + rss(lo, c) + right)
            if at >= 0 and delta < best[0]:
                best = (delta, p, at)
        if q <= chain.m:  # drop k, move the right neighbour
            b2 = min(pos[chain.next[q]], hi + WINDOW)
            at, total = fit.best_split(a, b2)
            delta = total - (rss(a, c) + rss(c, hi) + rss(hi, b2))
            if at >= 0 and delta < best[0]:
                best = (delta, q, at)
        return max(best[0], 0.0) * infl, best[1], best[2]

    def prune(self) -> None:
        """Drop the boundary of lowest cost while that is below ``crit``.

        Costs that a removal changed are recomputed when they come up (or at the end), not
        at once: most of them are removed before they would matter.
        """
        heap, crit, dirty, chain = self.heap, self.crit, self.dirty, self.chain
        while True:
            while heap:
                cost, k, ver = heap[0]
                if not chain.alive[k] or ver != self.version[k]:
                    heapq.heappop(heap)
                    continue
                if cost >= crit:
                    break
                heapq.heappop(heap)
                if k in dirty:
                    dirty.discard(k)
                    self._push(k)
                    continue
                move, at = self.move[k]
                p, q = chain.drop(k)
                # Their neighbours within two links changed; a moved one's too.
                touched = [j for j in (chain.prev[p], p, q, chain.next[q]) if 1 <= j <= chain.m]
                if move >= 0:
                    chain.pos[move] = at
                    touched += chain.around(move)
                dirty.update(j for j in touched if chain.alive[j])
            if not dirty:
                return
            for j in list(dirty):
                if chain.alive[j]:
                    self._push(j)
            dirty.clear()

    def refine(self) -> bool:
        """Move each boundary to the best split of its two segments; True if one moved."""
        chain = self.chain
        moved = set()
        for k in chain.ids():
            c = chain.pos[k]
            lo = max(chain.pos[chain.prev[k]], c - WINDOW)
            hi = min(chain.pos[chain.next[k]], c + WINDOW)
            at, _ = self.fit.best_split(lo, hi)
            if at >= 0 and at != c:
                chain.pos[k] = at
                moved.add(k)
        for k in moved:
            self.dirty.update(j for j in chain.around(k) if chain.alive[j])
        return bool(moved)

    def positions(self) -> list[int]:
        return [self.chain.pos[k] for k in self.chain.ids()]

    def strengths(self) -> list[float]:
        """Each boundary's full cost: its squared z, allowing for a neighbour's move."""
        return [self._cost(k, -math.inf)[0] for k in self.chain.ids()]
