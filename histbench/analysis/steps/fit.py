"""The numeric core: levels minus drift, as prefix sums, so that any segment's weighted
mean and residual sum of squares cost O(1). The boundary search and the step tests ask it
all their questions; it knows nothing of commits or samples."""

from __future__ import annotations

import math

import numpy as np

from histbench.analysis.steps.base import MIN_SEGMENT, WINDOW
from histbench.analysis.steps.drift import Drift
from histbench.analysis.steps.levels import Levels


class Fit:
    """Residuals (levels minus drift) with prefix sums: any segment's fit in O(1)."""

    def __init__(self, levels: Levels, drift: Drift):
        self.n = levels.y.size
        self.t = levels.index.astype(float)
        r = levels.y - drift.values
        self.offset = float(np.median(r))
        self.r = r - self.offset  # centred: prefix sums of squares keep their precision
        self.drift = drift.values
        self.slope_var = drift.slope_var  # variance of the drift's slope, per commit
        w = 1.0 / levels.v
        self.w = w
        self.pw = np.concatenate(([0.0], np.cumsum(w)))
        self.pwr = np.concatenate(([0.0], np.cumsum(w * self.r)))
        self.pwrr = np.concatenate(([0.0], np.cumsum(w * self.r**2)))
        self.pwt = np.concatenate(([0.0], np.cumsum(w * self.t)))
        # The same as lists: one element at a time, Python floats are faster.
        self.lw, self.lwr, self.lwrr, self.lwt = (
            p.tolist() for p in (self.pw, self.pwr, self.pwrr, self.pwt))
        self.lsv = drift.slope_var.tolist()

    def rss(self, a: int, b: int) -> float:
        """Weighted residual sum of squares of [a, b) around its mean (in noise variances)."""
        sw = self.lw[b] - self.lw[a]
        if sw <= 0:
            return 0.0
        swr = self.lwr[b] - self.lwr[a]
        return max(self.lwrr[b] - self.lwrr[a] - swr * swr / sw, 0.0)

    def inflation(self, c: int, lo: int, hi: int) -> float:
        """The share of a step's variance that is not the drift's."""
        if not self.lsv[c]:
            return 1.0
        a, b = max(lo, c - WINDOW), min(hi, c + WINDOW)
        wa = self.lw[c] - self.lw[a]
        wb = self.lw[b] - self.lw[c]
        gap = (self.lwt[b] - self.lwt[c]) / wb - (self.lwt[c] - self.lwt[a]) / wa
        base = 1 / wa + 1 / wb
        return base / (base + self.lsv[c] * gap * gap)

    def mean(self, a, b):
        """Weighted mean residual of [a, b) (arrays or ints)."""
        return (self.pwr[b] - self.pwr[a]) / (self.pw[b] - self.pw[a])

    def window(self, c, lo, hi):
        """The commits a step at ``c`` is judged on: WINDOW each side, not past ``lo``/``hi``.

        Over thousands of commits, any slow wobble would be significant; a step is a change
        between the commits just before and just after it.
        """
        return np.maximum(lo, c - WINDOW), np.minimum(hi, c + WINDOW)

    def candidates(self, threshold: float) -> list[int]:
        """Binary segmentation on the weighted CUSUM, seen as a Brownian bridge."""
        found = []
        stack = [(0, self.n)]
        pw, pwr = self.pw, self.pwr
        while stack:
            s, e = stack.pop()
            if e - s < 2 * MIN_SEGMENT:
                continue
            ks = np.arange(s + MIN_SEGMENT, e - MIN_SEGMENT + 1)
            total_w = pw[e] - pw[s]
            bridge = (pwr[ks] - pwr[s]) - (pw[ks] - pw[s]) / total_w * (pwr[e] - pwr[s])
            j = int(np.argmax(np.abs(bridge)))
            if abs(bridge[j]) / math.sqrt(total_w) < threshold:
                continue
            k = int(ks[j])
            found.append(k)
            stack.append((s, k))
            stack.append((k, e))
        return sorted(found)

    def best_split(self, lo: int, hi: int) -> tuple[int, float]:
        """The one step in [lo, hi) that fits best (maximum likelihood), and the RSS."""
        first, last = lo + MIN_SEGMENT, hi - MIN_SEGMENT + 1
        if last <= first:
            return -1, math.inf
        pw, pwr = self.pw[first:last], self.pwr[first:last]
        wa, ra = pw - self.lw[lo], pwr - self.lwr[lo]
        wb, rb = self.lw[hi] - pw, self.lwr[hi] - pwr
        explained = ra * ra / wa + rb * rb / wb
        j = int(np.argmax(explained))
        total = self.lwrr[hi] - self.lwrr[lo] - float(explained[j])
        return first + j, max(total, 0.0)

    def residual_variance(self, bounds: list[int]) -> float:
        """Mean squared standardized residual around the levels fitted between ``bounds``
        (1 for gaussian noise): above that, the noise has heavier tails than estimated."""
        seg = np.zeros(self.n, dtype=np.int64)
        seg[bounds] = 1
        seg = np.cumsum(seg)
        edges = np.asarray([0, *bounds, self.n])
        means = self.mean(edges[:-1], edges[1:])
        resid2 = (self.r - means[seg]) ** 2 * self.w
        dof = self.n - len(bounds) - 1
        return float(np.sum(resid2) / dof) if dof > 0 else 1.0
