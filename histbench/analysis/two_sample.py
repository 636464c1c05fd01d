"""Comparing two sets of measurements: is B really different from A, and by how much?

Default test: Welch's t-test on log samples. Timing noise is multiplicative and skewed to
the right; on the log scale it is close to symmetric, a change is a shift, and the
interval of that shift turns straight into a confidence interval of the ratio, which is
what a user asks about ("12% slower, 8% to 16%"). Mann-Whitney U (``method="mannwhitney"``)
is available for heavy-tailed data; it gives a p-value but its interval is the same
log-scale interval.

Samples from one process are correlated (hash seeds, memory layout, a noisy neighbour
during that process's life). Treating 2 processes x 10 samples as 20 independent values
makes a t-test wildly overconfident when processes disagree. So when per-process groups
are given and a one-way ANOVA says the processes differ (p < 0.05 on either side), the
test runs on per-process medians: fewer values, honest variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from histbench.core.formatting import ratio_of

METHODS = ("welch", "mannwhitney")
PROCESS_EFFECT_P = 0.05


@dataclass(frozen=True)
class Comparison:
    """B against A. ``ratio`` > 1 means B's values are larger (slower, for times); it is
    None where values are not all positive (``formatting.ratio_of``), and then
    ``direction`` alone says which way B moved."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    effect_size: float | None  # Hedges' g on the analysed scale; None when undefined
    significant: bool
    method: str
    level: str  # "samples" or "processes": what the test counted as independent values
    n_a: int
    n_b: int
    alpha: float
    direction: int = 0  # the sign of B's median minus A's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_groups(data: Sequence) -> list[np.ndarray]:
    """Accept flat samples or per-process groups; always return groups."""
    if len(data) and all(isinstance(g, (list, tuple, np.ndarray)) for g in data):
        groups = [np.asarray(g, dtype=float) for g in data if len(g)]
    else:
        groups = [np.asarray(data, dtype=float)]
    groups = [g for g in groups if g.size]
    if not groups:
        raise ValueError("no samples to compare")
    for g in groups:
        if not np.all(np.isfinite(g)):
            raise ValueError("samples must be finite numbers")
    return groups


def processes_differ(groups: list[np.ndarray]) -> bool:
    """One-way ANOVA across processes: do they disagree more than their samples do?"""
    usable = [g for g in groups if g.size >= 2]
    if len(usable) < 2:
        return False
    if all(np.ptp(g) == 0 for g in usable):
        return len({float(g[0]) for g in usable}) > 1
    with np.errstate(all="ignore"):
        p = sps.f_oneway(*usable).pvalue
    return bool(np.isfinite(p) and p < PROCESS_EFFECT_P)


def _log_groups(data: Sequence, log: bool) -> list[np.ndarray]:
    groups = _as_groups(data)
    return [np.log(g) for g in groups] if log else groups


def _values_at(groups: list[np.ndarray], level: str) -> np.ndarray:
    if level == "processes":
        return disturbed_processes_dropped(np.array([np.median(g) for g in groups]))
    return np.concatenate(groups)


def disturbed_processes_dropped(medians: np.ndarray) -> np.ndarray:
    """Per-process medians without the ones far outside the others (Tukey's fences).

    On a shared machine a whole process sometimes runs 50% slow (a neighbour took its
    core); with four processes a side, one such process makes a 40% change look
    insignificant. With at least four processes, a process median beyond 1.5 IQR of the
    others is treated as disturbed and left out; at least three always stay. Under no
    change this drops as often on both sides, so the test stays close to its nominal
    false-alarm rate (see tests/test_stats.py).
    """
    if medians.size < 4:
        return medians
    q1, q3 = np.percentile(medians, [25, 75])
    spread = q3 - q1
    kept = medians[(medians >= q1 - 1.5 * spread) & (medians <= q3 + 1.5 * spread)]
    return kept if kept.size >= 3 else medians


def analysed_values(data: Sequence, *, log: bool,
                    by_process: bool = False) -> tuple[np.ndarray, str]:
    """The values a test treats as independent, and which level they are."""
    groups = _log_groups(data, log)
    level = "processes" if by_process or processes_differ(groups) else "samples"
    return _values_at(groups, level), level


def _all_positive(*datas: Sequence) -> bool:
    return all(np.all(g > 0) for d in datas for g in _as_groups(d))


def _median(data: Sequence) -> float:
    return float(np.median(np.concatenate(_as_groups(data))))


def compare(a: Sequence, b: Sequence, *, alpha: float = 0.05,
            method: str = "welch", by_process: bool = False,
            noise_floor: float = 0.0) -> Comparison:
    """Compare B with A; both may be flat samples or per-process groups. ``by_process``
    tests per-process medians whatever the groups look like: for samples whose
    independence nobody checked (imported from asv, which pools its processes).
    ``noise_floor`` > 0: the samples are counts that repeat almost exactly (instructions
    under Valgrind), tested by ``compare_counts``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    with np.errstate(all="ignore"):  # huge values overflow the spread: handled, not said
        if noise_floor > 0 and _all_positive(a, b):
            return compare_counts(a, b, alpha=alpha, noise_floor=noise_floor)
        return _compare(a, b, alpha, method, by_process)


def compare_counts(a: Sequence, b: Sequence, *, alpha: float = 0.05,
                   noise_floor: float = 0.001) -> Comparison:
    """Two sets of near-deterministic counts. A t-test would divide by a spread of a few
    parts per million and call any difference significant, so the noise of one sample is
    taken as the larger of the measured repeat-to-repeat spread (pooled SD of the log
    counts) and ``noise_floor``; the difference of mean log counts is then judged on the
    normal scale: z = |d| / (sd * sqrt(1/n_a + 1/n_b)). With the default floor of 0.1%
    and 3 samples a side, changes above ~0.16% are significant at alpha 0.05, and two runs
    of unchanged code (a few ppm apart) never are."""
    xa = np.log(np.concatenate(_as_groups(a)))
    xb = np.log(np.concatenate(_as_groups(b)))
    spread = [g.var(ddof=1) * (g.size - 1) for g in (xa, xb) if g.size > 1]
    dof = sum(g.size - 1 for g in (xa, xb) if g.size > 1)
    sd = max(math.sqrt(sum(spread) / dof) if dof else 0.0, noise_floor)
    se = sd * math.sqrt(1 / xa.size + 1 / xb.size)
    diff = float(xb.mean() - xa.mean())
    p = float(2 * sps.norm.sf(abs(diff) / se))
    half = float(sps.norm.ppf(1 - alpha / 2)) * se
    med_a, med_b = _median(a), _median(b)
    return Comparison(ratio=ratio_of(med_a, med_b), ci_low=_finite(math.exp(diff - half)),
                      ci_high=_finite(math.exp(diff + half)), p_value=p,
                      effect_size=diff / sd, significant=p < alpha, method="counts",
                      level="samples", n_a=int(xa.size), n_b=int(xb.size), alpha=alpha,
                      direction=(med_b > med_a) - (med_b < med_a))


def _compare(a: Sequence, b: Sequence, alpha: float, method: str,
             by_process: bool) -> Comparison:
    log = _all_positive(a, b)
    ga, gb = _log_groups(a, log), _log_groups(b, log)
    # Both sides at the same level: if either side's processes disagree, neither side's
    # samples can be taken as independent.
    level = "processes" if by_process or processes_differ(ga) or processes_differ(gb) \
        else "samples"
    xa, xb = _values_at(ga, level), _values_at(gb, level)
    med_a, med_b = _median(a), _median(b)
    ratio = ratio_of(med_a, med_b)
    diff, se, dof = _welch_parts(xa, xb)
    p = _p_value(xa, xb, diff, se, dof, method)
    ci_low = ci_high = None
    if ratio is not None:
        centre = math.log(ratio) if log and ratio > 0 else None
        ci_low, ci_high = (_finite(x) for x in _ratio_interval(centre, ratio, se, dof, alpha,
                                                               log, med_a))
    effect = _hedges_g(xa, xb)
    return Comparison(ratio=ratio, ci_low=ci_low, ci_high=ci_high,
                      p_value=p, effect_size=effect, significant=p < alpha, method=method,
                      level=level, n_a=int(xa.size), n_b=int(xb.size), alpha=alpha,
                      direction=(med_b > med_a) - (med_b < med_a))


def _welch_parts(xa: np.ndarray, xb: np.ndarray) -> tuple[float, float, float]:
    """Difference of means, its standard error, and Welch-Satterthwaite degrees of freedom."""
    diff = float(xb.mean() - xa.mean())
    va = xa.var(ddof=1) / xa.size if xa.size > 1 else 0.0
    vb = xb.var(ddof=1) / xb.size if xb.size > 1 else 0.0
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, 0.0, 1.0
    num = (va + vb) ** 2
    den = (va**2 / (xa.size - 1) if xa.size > 1 else 0) + (
        vb**2 / (xb.size - 1) if xb.size > 1 else 0)
    return diff, se, num / den if den > 0 else 1.0


def _p_value(xa, xb, diff, se, dof, method) -> float:
    if xa.size < 2 and xb.size < 2:
        return 1.0  # one value each: nothing says how noisy they are
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    if method == "mannwhitney":
        with np.errstate(all="ignore"):
            p = sps.mannwhitneyu(xa, xb, alternative="two-sided").pvalue
    else:
        p = 2 * sps.t.sf(abs(diff) / se, dof)
    return float(min(1.0, max(0.0, p))) if np.isfinite(p) else 1.0


def _ratio_interval(centre, ratio, se, dof, alpha, log, med_a) -> tuple[float, float]:
    """Centred on the ratio of medians (what is reported), spread from the log-scale SE."""
    half = float(sps.t.ppf(1 - alpha / 2, dof)) * se if se > 0 else 0.0
    if not math.isfinite(half):  # values so far apart that their spread overflows
        return (0.0 if log else -_FLOAT_MAX), _FLOAT_MAX
    if log and centre is not None:
        return math.exp(min(centre - half, _MAX_EXP)), math.exp(min(centre + half, _MAX_EXP))
    if med_a == 0:
        return ratio, ratio
    return ratio - half / abs(med_a), ratio + half / abs(med_a)


def _hedges_g(xa: np.ndarray, xb: np.ndarray) -> float | None:
    na, nb = xa.size, xb.size
    if na + nb < 3:
        return None
    pooled = ((na - 1) * (xa.var(ddof=1) if na > 1 else 0) +
              (nb - 1) * (xb.var(ddof=1) if nb > 1 else 0)) / (na + nb - 2)
    if pooled <= 0:
        return None
    d = (xb.mean() - xa.mean()) / math.sqrt(pooled)
    correction = 1 - 3 / (4 * (na + nb) - 9) if na + nb > 2 else 1.0
    g = float(d * correction)
    return g if math.isfinite(g) else None


_FLOAT_MAX = 1.7976931348623157e308
_MAX_EXP = math.log(_FLOAT_MAX)


def _finite(x: float) -> float:
    return float(np.clip(x, -_FLOAT_MAX, _FLOAT_MAX))


def minimum_detectable_effect(data: Sequence, *, alpha: float = 0.05, power: float = 0.95,
                              by_process: bool = False,
                              noise_floor: float = 0.0) -> float | None:
    """Smallest relative change that a comparison of two runs like this one would detect
    with the given power: (t_{1-alpha/2} + t_{power}) * sd * sqrt(2/n) on the log scale.

    Measured at the level the test would use (processes when they disagree), so a
    benchmark whose processes wander gets the honest, larger figure. None when the noise
    cannot be estimated (fewer than 2 values).
    """
    log = _all_positive(data)
    values, _ = analysed_values(data, log=log, by_process=by_process)
    if values.size < 2:
        return None
    sd = max(float(values.std(ddof=1)), noise_floor if log else 0.0)
    dof = 2 * values.size - 2
    delta = (sps.t.ppf(1 - alpha / 2, dof) + sps.t.ppf(power, dof)) * sd * math.sqrt(
        2 / values.size)
    if log:
        return float(math.expm1(delta))
    centre = abs(float(np.median(values)))
    return float(delta / centre) if centre > 0 else None
