"""When is a boundary a step: the thresholds of the candidate search and of the confirming
two-sample test, with the test's Bonferroni factor in one place, so that the critical value
a boundary must pass and the p-value reported for it cannot disagree."""

from __future__ import annotations

import math
from dataclasses import dataclass

from histbench.analysis.steps.base import MIN_SEGMENT
from histbench.core.scipy_special import special

CANDIDATE_P = 0.5  # binary segmentation splits while the bridge statistic's p is below this


def candidate_threshold() -> float:
    """The CUSUM bridge statistic's threshold for a candidate: liberal on purpose, so that a
    rise and a fall soon after do not mask each other; confirmation is the real test."""
    return float(special().kolmogi(CANDIDATE_P))


@dataclass(frozen=True)
class StepTest:
    """Student t test of a boundary's two sides, adjusted for every commit of a history of
    ``commits`` levels where a step could have been: that makes the false-alarm rate
    family-wise at any history length. ``df``: the noise estimate's degrees of freedom.

    A boundary's strength is its squared z (the fit's loss without it, in noise variances).
    """

    commits: int
    df: float

    @property
    def places(self) -> int:
        """Commits where a step could be: the Bonferroni factor."""
        return max(1, self.commits - 2 * MIN_SEGMENT + 1)

    def critical_strength(self, alpha: float) -> float:
        """The strength a boundary needs to stand at family-wise level ``alpha``."""
        z_crit = -float(special().stdtrit(self.df, alpha / (2 * self.places)))
        return z_crit**2

    def p_value(self, strength: float) -> float:
        """The adjusted two-sided p-value of a boundary of this strength."""
        z = math.sqrt(strength)
        p = min(1.0, 2 * self.places * float(special().stdtr(self.df, -z))) \
            if math.isfinite(z) else 0.0
        return p if math.isfinite(p) else 1.0
