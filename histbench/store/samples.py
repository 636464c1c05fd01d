"""Descriptive statistics of one benchmark's raw samples.

The raw samples stay the source of truth; a :class:`Summary` is what the comparison, the
report and the regression detector read, so it has to hold for every finite input a
benchmark can produce: one sample, identical samples, negative ``track_`` values, byte
counts near 1e300, timings near 1e-300. It is stored as strict JSON, so no field may ever
be NaN or inf, and it must round-trip exactly so that a re-read result compares equal.

Choices made here, and why:

* Mean CI uses Student's t, not 1.96: benchmarks often have 5-20 samples, where the normal
  quantile understates the uncertainty by up to a factor of six (n = 2).
* The median gets its own distribution-free CI from order statistics, because timing noise
  is right-skewed (interrupts, cache misses, GC pauses only ever add time) and the mean's
  CI assumes a symmetry that is not there.
* Outliers are flagged, never removed: a 100x sample may be a real (bimodal) behaviour of
  the code, and silently dropping it would hide exactly what someone should look at.
* Samples are also summarised per worker process, because hash randomisation and memory
  layout make whole processes fast or slow; a large spread between process medians means
  more processes, not more samples per process, are needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np

from histbench.core.scipy_special import special

__all__ = ["OUTLIER_RULE", "Summary", "median_interval", "summarize", "t_interval"]

OUTLIER_RULE = "iqr"
_TUKEY_K = 1.5
_FLOAT_MAX = float(np.finfo(np.float64).max)

_INT_FIELDS = frozenset({"n", "n_groups"})
_STR_FIELDS = frozenset({"outlier_rule"})
_INT_TUPLE_FIELDS = frozenset({"outliers"})
_FLOAT_TUPLE_FIELDS = frozenset({"group_medians"})


@dataclass(frozen=True)
class Summary:
    """Everything later stages need to know about one benchmark's samples.

    Frozen so a summary read from disk cannot drift from the samples it was computed from;
    only plain ``float``/``int``/``str``/``tuple`` fields so equality is exact and JSON is
    trivial.
    """

    n: int
    mean: float
    std: float
    median: float
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    mad: float
    cv: float
    ci_low: float
    ci_high: float
    median_ci_low: float
    median_ci_high: float
    median_ci_level: float
    outliers: tuple[int, ...]
    outlier_rule: str
    n_groups: int
    group_medians: tuple[float, ...]
    between_group_cv: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, so ``json.dumps(..., allow_nan=False)`` never fails on it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        """Rebuild a summary from :meth:`to_dict` output.

        Unknown keys are ignored so that a file written by a newer histbench with extra
        statistics still loads; missing or non-finite values are refused with the key's
        name, because a half-read summary would silently skew every comparison after it.
        """
        fast = _fast_from_dict(cls, d)
        if fast is not None:
            return fast
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in d]
        if missing:
            raise ValueError(f"summary record is missing key(s): {', '.join(missing)}")
        kwargs: dict[str, Any] = {}
        for name in names:
            value = d[name]
            if name in _INT_FIELDS:
                kwargs[name] = _int_field(name, value)
            elif name in _STR_FIELDS:
                if not isinstance(value, str):
                    raise ValueError(f"summary field {name!r} must be a string, got {value!r}")
                kwargs[name] = value
            elif name in _INT_TUPLE_FIELDS:
                kwargs[name] = tuple(_int_field(name, v) for v in _list_field(name, value))
            elif name in _FLOAT_TUPLE_FIELDS:
                kwargs[name] = tuple(_float_field(name, v) for v in _list_field(name, value))
            else:
                kwargs[name] = _float_field(name, value)
        return cls(**kwargs)


def _fast_from_dict(cls: type[Summary], d: Mapping[str, Any]) -> Summary | None:
    """The common case, a well-formed record, without per-field validation calls: loading
    a history reads tens of thousands of summaries. Anything unusual returns None and goes
    through the validating path, which explains what is wrong."""
    try:
        floats = [d[name] for name in _PLAIN_FLOAT_FIELDS]
        ints = [d[name] for name in _INT_FIELDS_ORDERED]
        outliers, medians = d["outliers"], d["group_medians"]
        rule = d["outlier_rule"]
    except (KeyError, TypeError):
        return None
    if not (all(type(v) is float or type(v) is int for v in floats)
            and all(type(v) is int for v in ints) and type(rule) is str
            and type(outliers) is list and all(type(v) is int for v in outliers)
            and type(medians) is list
            and all(type(v) is float or type(v) is int for v in medians)
            and all(map(math.isfinite, floats)) and all(map(math.isfinite, medians))):
        return None
    kwargs: dict[str, Any] = dict(zip(_PLAIN_FLOAT_FIELDS, map(float, floats), strict=True))
    kwargs.update(zip(_INT_FIELDS_ORDERED, ints, strict=True))
    kwargs.update(outliers=tuple(outliers), group_medians=tuple(map(float, medians)),
                  outlier_rule=rule)
    return cls(**kwargs)


def _int_field(name: str, value: Any) -> int:
    # bool is an int subclass, and a float like 3.5 would truncate silently: refuse both.
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)):
        raise ValueError(f"summary field {name!r} must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"summary field {name!r} must be an integer, got {value!r}")
    return int(value)


def _float_field(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"summary field {name!r} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"summary field {name!r} must be finite, got {value!r}")
    return result


def _list_field(name: str, value: Any) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"summary field {name!r} must be a list, got {value!r}")
    return value


def _saturate(value: float) -> float:
    """Clamp to the finite float range.

    A statistic whose true value lies beyond 1.8e308 (the std of [-1.7e308, 1.7e308], say)
    cannot be stored as inf in strict JSON; the largest finite float is the closest honest
    stand-in. NaN is never a legitimate result here, so it is reported as the bug it is.
    """
    result = float(value)
    if math.isnan(result):
        raise FloatingPointError("histbench.summary produced NaN; please report this input")
    return min(max(result, -_FLOAT_MAX), _FLOAT_MAX)


def _unscale(value: float, exponent: int) -> float:
    """``value * 2**exponent`` saturating instead of raising, see :func:`_saturate`."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(_FLOAT_MAX, value)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be strictly between 0 and 1, got {level!r}")


def _as_finite_array(values: Any, what: str, allow_empty: bool = False) -> np.ndarray:
    """Validate up front so a NaN names its index instead of poisoning every statistic."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except OverflowError as exc:
        raise ValueError(f"{what} contain a number too large for a float: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a flat sequence of numbers, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{what} is empty: there is nothing to summarise")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"{what} contain {bad.size} non-finite value(s) (NaN or inf); "
            f"first at index {first}: {arr[first]!r}"
        )
    return arr


def _percentiles(values: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """numpy's default (linear) percentiles, without overflow.

    Interpolating between neighbours of opposite sign near 1.8e308 computes their
    difference, which overflows. Halving first (exact for normal floats) keeps every
    intermediate finite, and doubling back is safe because the result lies between two
    finite samples. The fallback only runs when needed, so ordinary data is bit-for-bit
    what ``np.percentile`` gives.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(np.percentile(values, q), dtype=np.float64)
    if not np.isfinite(out).all():
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(np.percentile(values * 0.5, q), dtype=np.float64) * 2.0
    return out


def _moments(values: np.ndarray, lo: float, hi: float) -> tuple[float, float, float]:
    """(mean, sample std, cv) that neither overflow nor underflow.

    The sum of two 1e308 samples overflows and the squares of 1e-300 samples underflow to
    zero (a std of 0 for data that clearly varies). Scaling by a power of two so the
    largest magnitude lies in [0.5, 1) avoids both, and is exact, so ordinary data keeps
    full precision. Constant data short-cuts to an exact 0 std instead of rounding noise.
    """
    if lo == hi:
        return lo, 0.0, 0.0
    _, exponent = math.frexp(max(abs(lo), abs(hi)))
    scaled = np.ldexp(values, -exponent)
    mean_s = float(scaled.mean())
    std_s = float(scaled.std(ddof=1))
    # Rounding in the sum can push the mean a hair outside the data; it never belongs there.
    mean = min(max(_unscale(mean_s, exponent), lo), hi)
    std = _saturate(_unscale(std_s, exponent))
    if mean == 0.0 or mean_s == 0.0:
        cv = 0.0
    else:
        with np.errstate(over="ignore"):
            cv = _saturate(std_s / abs(mean_s))  # ratio of scaled values: same, no overflow
    return mean, std, cv


def _mad(values: np.ndarray, center: float) -> float:
    """Raw median absolute deviation, falling back to half scale if deviations overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        deviations = np.abs(values - center)
    if np.isfinite(deviations).all():
        return _saturate(_percentiles(deviations, (50.0,))[0])
    deviations = np.abs(values * 0.5 - center * 0.5)
    return _saturate(2.0 * float(_percentiles(deviations, (50.0,))[0]))


def _tukey_outliers(values: np.ndarray, q1: float, q3: float) -> tuple[int, ...]:
    """Indices outside the Tukey fences [q1 - 1.5 IQR, q3 + 1.5 IQR].

    Fences are computed on the raw quartiles: if they overflow to +-inf the true fence lies
    beyond every finite float anyway, so inf gives exactly the right answer (no outliers).
    """
    spread = q3 - q1
    low_fence = q1 - _TUKEY_K * spread
    high_fence = q3 + _TUKEY_K * spread
    flagged = np.flatnonzero((values < low_fence) | (values > high_fence))
    return tuple(int(i) for i in flagged)


@lru_cache(maxsize=512)
def _t_quantile(dof: int, level: float) -> float:
    # Cached: scipy's ppf costs ~100 us and runs see the same few sample counts repeatedly.
    return float(special().stdtrit(dof, 0.5 + level / 2.0))


def t_interval(mean: float, std: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the mean with Student's t on ``n - 1`` degrees of freedom.

    Student's t rather than the normal 1.96 because benchmark sample counts are small:
    with n = 5 the honest half-width is 1.42x wider, with n = 2 it is 6.5x wider. When the
    interval is undefined (n < 2) or degenerate (std == 0) it collapses onto the mean, so
    callers never see NaN; results beyond the float range saturate instead of becoming inf.
    """
    _check_level(level)
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0.0:
        raise ValueError(f"t_interval needs a finite mean and std >= 0, got {mean!r}, {std!r}")
    if n < 2 or std == 0.0:
        return float(mean), float(mean)
    half = _t_quantile(int(n) - 1, float(level)) * (std / math.sqrt(n))
    return _saturate(mean - half), _saturate(mean + half)


@lru_cache(maxsize=512)
def _median_ranks(n: int, level: float) -> tuple[int, float]:
    """0-based index ``m`` of the lower bound and the coverage of [x(m), x(n-1-m)].

    The number of samples below the population median is Binomial(n, 1/2) whatever the
    distribution, so [x(m), x(n-1-m)] covers it with probability 1 - 2 F(m). The narrowest
    such interval reaching ``level`` uses the largest m with F(m) <= (1 - level) / 2.
    scipy's inverse gives a neighbour of that m; the two loops correct any off-by-one from
    floating-point rounding and run at most a step or two.
    """
    tail = (1.0 - level) / 2.0
    m = int(np.nan_to_num(special().bdtrik(tail, n, 0.5), nan=0.0))
    while m >= 0 and float(special().bdtr(m, n, 0.5)) > tail:
        m -= 1
    while m + 1 <= (n - 1) // 2 and float(special().bdtr(m + 1, n, 0.5)) <= tail:
        m += 1
    # No order-statistic pair reaches `level` for tiny n: use min/max and report what they reach.
    m = max(m, 0)
    achieved = 1.0 - 2.0 * float(special().bdtr(m, n, 0.5))
    return m, min(max(achieved, 0.0), 1.0)


def median_interval(
    sorted_values: Sequence[float] | np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """Distribution-free confidence interval of the median: ``(low, high, achieved_level)``.

    Built from order statistics and the Binomial(n, 1/2) law rather than from a normal
    approximation, because timing noise is skewed and heavy-tailed and this interval is
    valid for any continuous distribution. Coverage comes in discrete steps, so the
    achieved level (>= ``level`` whenever possible) is returned; when n is too small for
    any pair to reach ``level`` (n <= 5 at 95%) the interval is [min, max] and the achieved
    level is lower (n = 5 gives 0.9375) — reported, never hidden.

    ``sorted_values`` must be sorted ascending; it is not re-sorted, since the caller has
    usually sorted already and a second sort would dominate the cost.
    """
    _check_level(level)
    values = np.asarray(sorted_values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("median_interval needs a non-empty flat sequence of sorted values")
    n = int(values.size)
    m, achieved = _median_ranks(n, float(level))
    return float(values[m]), float(values[n - 1 - m]), achieved


def _group_medians(groups: Sequence[Sequence[float]], n: int) -> tuple[float, ...]:
    """Median of each worker process's samples.

    Empty groups (a process that produced nothing) are skipped: they carry no information
    and must not turn the whole summary into an error. The total must still match the flat
    samples, because a mismatch means the caller paired the wrong two lists.
    """
    medians: list[float] = []
    total = 0
    for i, group in enumerate(groups):
        arr = _as_finite_array(group, f"groups[{i}]", allow_empty=True)
        if arr.size == 0:
            continue
        total += int(arr.size)
        medians.append(_saturate(_percentiles(arr, (50.0,))[0]))
    if total != n:
        raise ValueError(
            f"groups hold {total} samples but samples has {n}; "
            "groups must be the same samples split per process"
        )
    return tuple(medians)


def summarize(samples: Sequence[float], groups: Sequence[Sequence[float]] | None = None) -> Summary:
    """Summarise one benchmark's samples; ``groups`` are the same samples split per process.

    Everything is vectorised (one sort plus a few linear passes), because a run summarises
    thousands of benchmarks and some collect 1e5 samples. Raises ValueError on empty input
    or any NaN/inf: a benchmark that produced those failed, and a summary would hide it.
    """
    values = _as_finite_array(samples, "samples")
    n = int(values.size)
    ordered = np.sort(values)
    lo, hi = float(ordered[0]), float(ordered[-1])

    quartiles = _percentiles(ordered, (25.0, 50.0, 75.0))
    # Interpolation rounding must never break min <= q1 <= median <= q3 <= max.
    quartiles = np.maximum.accumulate(np.clip(quartiles, lo, hi))
    q1, median, q3 = (float(q) for q in quartiles)

    mean, std, cv = _moments(values, lo, hi)
    ci_low, ci_high = t_interval(mean, std, n)
    med_low, med_high, med_level = median_interval(ordered)

    if groups is None:
        group_medians: tuple[float, ...] = (median,)
    else:
        group_medians = _group_medians(groups, n)
    if len(group_medians) >= 2:
        medians = np.asarray(group_medians, dtype=np.float64)
        between_cv = _moments(medians, float(medians.min()), float(medians.max()))[2]
    else:
        between_cv = 0.0

    return Summary(
        n=n,
        mean=mean,
        std=std,
        median=median,
        min=lo,
        max=hi,
        q1=q1,
        q3=q3,
        iqr=_saturate(q3 - q1),
        mad=_mad(values, median),
        cv=cv,
        ci_low=ci_low,
        ci_high=ci_high,
        median_ci_low=min(med_low, median),
        median_ci_high=max(med_high, median),
        median_ci_level=med_level,
        outliers=_tukey_outliers(values, q1, q3),
        outlier_rule=OUTLIER_RULE,
        n_groups=len(group_medians),
        group_medians=group_medians,
        between_group_cv=between_cv,
    )


_INT_FIELDS_ORDERED = tuple(sorted(_INT_FIELDS))
_PLAIN_FLOAT_FIELDS = tuple(
    f.name for f in fields(Summary)
    if f.name not in _INT_FIELDS | _STR_FIELDS | _INT_TUPLE_FIELDS | _FLOAT_TUPLE_FIELDS)
