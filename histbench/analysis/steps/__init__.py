"""Steps in a benchmark's history: at which commit did its level change, and is that real?

``detect_steps(series)`` takes one list of raw samples per commit, in history order, and
returns the commits where the level moved, each with the levels on both sides, their ratio
and a p-value. The false-alarm rate is controlled over the whole history: with
``alpha=0.05`` a history without any step, of any length, reports one in about 5% of
cases or fewer (family-wise, not per commit).

How (on the log scale when every sample is positive, else on the raw scale):

1. Per-commit level: mean of the commit's samples after dropping those further than
   ``TRIM_SDS`` robust SDs (pooled over the history) from the commit's median: outlier
   samples go, gaussian noise keeps nearly the efficiency of a mean. When the commits'
   ``LOW_QUANTILE`` quantiles are a clearly steadier level (timings whose processes land
   on a fast or a slow mode), those are the levels instead.
2. Noise of a level, from the levels themselves: the spread of first differences (minus
   their median, the local slope), the larger of a MAD and a trimmed SD (the MAD alone
   misses noise that clusters). It includes commit-to-commit jitter, which the spread
   within a commit does not show, and a few steps hardly move it. Commits with fewer
   samples weigh less (jitter + within-commit variance / samples). A commit (or two) far
   off its neighbours is pulled back to ``SPIKE_SDS`` of them: one bad commit is no step.
3. Candidates: binary segmentation with the CUSUM statistic seen as a Brownian bridge,
   with a liberal threshold (``CANDIDATE_P``), so that a rise and a fall soon after do
   not mask each other.
4. Confirmation: the weakest candidate is dropped, one at a time, until every boundary
   left passes a two-sample test of the commits on its two sides (at most ``WINDOW`` each
   side, never past the next boundary), Bonferroni-adjusted for every commit where a step
   could have been: that is what makes the false-alarm rate family-wise, at any history
   length. A boundary's strength allows for a neighbour moving to make up for it, so a
   step is not reported twice, a commit early and a commit late. Each boundary left is
   moved to the commit that best splits its two segments (maximum likelihood), to the
   exact commit of the step when the data allows.
5. Drift: a first slope is the median of slopes between commits ``LAG`` apart (robust to
   steps; the pairs across a large step, far out on one side, are left out first: with
   per-build offsets they moved the median enough to hide a 20% trend, which then came
   out as a staircase of small steps); later rounds pool the least-squares slope within
   segments over ``DRIFT_SPAN`` commits each side, where significant (a trend that bends
   is followed). The drift is subtracted and 3-4 run again, until it settles. A slow
   trend is no staircase, and the slope's uncertainty is part of each step test's
   variance.
6. If the levels vary around the fit more than estimated (heavy-tailed jitter), the
   variance is scaled up to what they show and 3-5 run again.
7. Excursions: builds land at levels of their own (memory layout; on CI, runners of
   another kind, often 10-50% faster), and where that happens often, a run of three or
   four such commits passes the gaussian tests of 4 as a short segment, two steps. (On
   windows of Django's CI history that was most of the false alarms.) So a segment of at
   most ``EXCURSION_MAX`` commits is also tested against the history's own tails: with q
   the share of the other commits as far off as the run (same side, from their segment's
   median; "as far" is nearer the run's level than their own and ``EXCURSION_SDS`` out,
   or as far as the run's nearest commit if that is less: off builds are a cluster, not a
   tail), a run like it turns up somewhere with probability about n q^L; above alpha,
   the run is pulled onto the nearer of its neighbours' levels (next to a step, that
   keeps the step where it is) and 2-6 run again, ``EXCURSION_ROUNDS`` times at most. On
   gaussian noise q is about 1/n for any clear short segment, which stands: nothing is
   lost where builds agree. The same test keeps the family-wise rate near alpha when
   the builds' offsets are heavy-tailed (it was 17-20% with one build in ten off).

The p-value of a step is the Bonferroni-adjusted one of its test (Student t, with the
degrees of freedom of a MAD-based variance estimate); steps have p <= alpha.

A deterministic history (every commit's samples one value, as a ``track_`` count) has
no noise to estimate: each change of value is a step, however few commits were measured.

Limits: a step needs ``MIN_SEGMENT`` (3) commits with data on each side: the newest two
commits cannot show one yet, and a level that leaves for one or two commits and comes back
counts as noise, as does one that leaves for a few commits in a history where that many
builds in a row are that far off anyway (7); a step smaller than about two noise SDs of a
commit's level is often found a commit early or late: the data cannot tell, and a step
whose first commit is an off build (a fast runner) is found where the builds are normal
again. Changes of the machine that every benchmark shows (a new runner image) are steps
like any other: one benchmark's history cannot tell them from a change of the code.

Cost: O(n log n) in the number of commits (prefix sums; the loops run over candidates;
an excursion, where one is found, repeats 2-6 once or twice).

Where: ``detector`` (detect_steps, the rounds of 2-7), ``levels`` (1, from the samples to
arrays), ``noise`` (2), ``fit`` (the numeric core: prefix sums of levels minus drift),
``boundaries`` (3-4, the search), ``significance`` (the thresholds and p-values of 3-4),
``segmentation`` (3-5 as one pass), ``drift`` (5), ``excursions`` (7), ``exact``
(deterministic histories), ``base`` (Step and the sizes all of them share).

This package is part of the analysis layer: it knows nothing of how samples were made.
"""

from histbench.analysis.steps.base import Step
from histbench.analysis.steps.detector import detect_steps

__all__ = ["Step", "detect_steps"]
