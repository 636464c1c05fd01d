"""Runs of off builds (memory layout, a CI runner of another kind) that the gaussian step
tests take for a short segment, two steps: told apart by the history's own tails."""

from __future__ import annotations

import numpy as np

from histbench.analysis.steps.levels import Levels
from histbench.analysis.steps.segmentation import Segmentation

EXCURSION_MAX = 10  # commits: a shorter segment may be a run of off builds ...
EXCURSION_SDS = 3.0  # commits this far off their level (SDs) are off builds ...
EXCURSION_SHARE = 0.5  # ... if at least this share as far off as the run's nearest


def pull_excursions(levels: Levels, found: Segmentation, alpha: float) -> np.ndarray | None:
    """Commits of short segments that are likelier a run of off builds than two steps.

    Builds land at levels of their own (memory layout, a CI runner of another kind): some
    commits are off by many noise SDs, on one side more than the other, and with such
    tails a run of a few of them passes the gaussian step tests as a short segment, two
    steps. Whether it could be noise is read from the history itself: if the share q of
    the other commits as far off as the run (on the same side, from their segment's
    median) makes a run of L such commits likely somewhere in the history (n q^L >
    alpha), the run is an excursion, not a level.
    The commits of an excursion are pulled onto the nearer level: next to a step, that
    is the step's new or old level, and the step stays where it is.
    Returns the levels with the excursions pulled in, or None if there was none.
    """
    fit = found.fit
    n = fit.n
    edges = np.asarray([0, *found.bounds, n])
    sizes = np.diff(edges)
    if sizes.size < 2 or not np.any(sizes <= EXCURSION_MAX):
        return None
    resid = levels.raw - fit.drift - fit.offset
    # Medians, not the fit's means: off builds pull a mean towards them, and then the
    # others look less far off than the run.
    means = np.asarray([np.median(resid[a:b]) for a, b in zip(edges[:-1], edges[1:],
                                                               strict=True)])
    short = np.flatnonzero(sizes <= EXCURSION_MAX)
    ref = _references(means, short)
    seg = np.repeat(np.arange(sizes.size), sizes)
    z = (resid - ref[seg]) * np.sqrt(fit.w)
    ups, downs = np.sort(z), np.sort(-z)
    y = levels.y.copy()
    pulled = False
    for k in short:
        a, b = int(edges[k]), int(edges[k + 1])
        sign = 1.0 if means[k] >= ref[k] else -1.0
        q = _share_as_far(sign * z[a:b], ups if sign > 0 else downs, n)
        places = n if 0 < k < sizes.size - 1 else 1  # at an end, a run has one place
        if places * q ** (b - a) > alpha:
            y[a:b] = fit.drift[a:b] + fit.offset + ref[k]
            pulled = True
    return y if pulled else None


def _references(means: np.ndarray, short: np.ndarray) -> np.ndarray:
    """The level each segment is off from: its own, or for a short one (an excursion
    leaves a level and comes back) the nearer of its neighbours'."""
    ref = means.copy()
    for k in short:
        near = [means[j] for j in (k - 1, k + 1) if 0 <= j < means.size]
        ref[k] = min(near, key=lambda m: abs(m - means[k]))
    return ref


def _share_as_far(run: np.ndarray, tail: np.ndarray, n: int) -> float:
    """q: the share of the other commits as far off as the ``run`` (its z, signed to be off
    upwards; ``tail``: every commit's z on that side, sorted).

    "As far" is as far as the run's nearest commit, or, when that is further, nearer the
    run's level than their own and at least EXCURSION_SDS out: off builds scatter over a
    range (a runner 2x to 5x slow), and the run's nearest commit is only one draw of it.
    On gaussian noise q is about 1/n for any clear step, and short segments stand.
    """
    size = run.size
    t = float(np.min(run))
    # Off like the run: nearer the run's level than the reference, and an outlier.
    t = min(t, max(EXCURSION_SDS, EXCURSION_SHARE * t))
    beyond = tail.size - int(np.searchsorted(tail, t, side="left")) - size
    return (max(beyond, 0) + 1) / (n - size + 1)
