"""Normalised figures for comparing variants of one workload: quantised against float,
pruned against dense, this commit against that one.

A raw "3.1 ms vs 4.0 ms" invites the reader to do the division and to forget the noise, so
every figure here is a ratio or a delta relative to a baseline, and the one that comes from
noisy timings (the speedup) carries its confidence interval and p-value from
:func:`histbench.stats.compare`. A number is only as good as the comparison behind it, so
:func:`unfair` names what makes two results not like for like (machine, Python, benchmark
version, warm-up) instead of letting the report present them as if they were.

This is the analysis layer: it reads results, never runs anything.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from histbench.analysis.two_sample import compare
from histbench.core.errors import HistbenchError
from histbench.store.machine import MachineRecord
from histbench.store.results import BenchmarkResult, RunResults

__all__ = [
    "DIRECTIONS",
    "Speedup",
    "accuracy_delta",
    "compression_ratio",
    "efficiency",
    "fairness_warnings",
    "pareto_front",
    "speedup",
    "unfair",
]

DIRECTIONS = ("min", "max")
_FLOAT_MAX = float(np.finfo(np.float64).max)


# --------------------------------------------------------------------------- speedup


@dataclass(frozen=True)
class Speedup:
    """How many times faster ``optimized`` is than ``baseline``; > 1 means faster.

    Kept as its own record rather than a bare :class:`~histbench.stats.Comparison` because
    a speedup reads the other way round (baseline over optimized) and mixing the two
    conventions in one report is how a 20% slowdown gets published as a win.
    """

    value: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    level: str  # "samples" or "processes": what the test counted as independent values
    n_baseline: int
    n_optimized: int
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _flat(data: Sequence) -> list[float]:
    """Flat samples or per-process groups, flattened; only used for validation."""
    out: list[float] = []
    for item in data:
        if isinstance(item, (list, tuple, np.ndarray)):
            out.extend(float(v) for v in np.ravel(item))
        else:
            out.append(float(item))
    return out


def _check_times(data: Sequence, what: str) -> None:
    # A zero or negative duration makes the ratio infinite or meaningless, and the interval
    # is built on the log scale; better to say so than to publish "inf x faster".
    values = _flat(data)
    if not values:
        raise ValueError(f"{what}: no samples")
    if any(not math.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"{what}: times must be positive finite numbers of seconds")


def _inverse(x: float | None) -> float:
    # Clipped like stats.compare's figures: results are stored as strict JSON, no inf.
    if x is None:
        raise HistbenchError("a speedup needs positive times on both sides")
    return min(1.0 / x, _FLOAT_MAX) if x > 0 else _FLOAT_MAX


def speedup(baseline: Sequence, optimized: Sequence, *, alpha: float = 0.05) -> Speedup:
    """Speedup of ``optimized`` over ``baseline`` (times in seconds, flat or per process).

    Computed as the inverse of ``compare(baseline, optimized)`` rather than a separate
    test, so that the speedup, its interval and its significance always agree with the
    regression report: same Welch test on log times, same switch to per-process medians
    when processes disagree. On the log scale the interval of 1/ratio is exactly the
    inverted interval of the ratio.
    """
    _check_times(baseline, "baseline")
    _check_times(optimized, "optimized")
    c = compare(baseline, optimized, alpha=alpha)
    return Speedup(value=_inverse(c.ratio), ci_low=_inverse(c.ci_high),
                   ci_high=_inverse(c.ci_low), p_value=c.p_value, significant=c.significant,
                   level=c.level, n_baseline=c.n_a, n_optimized=c.n_b, alpha=c.alpha)


# --------------------------------------------------------------------------- simple ratios


def _positive_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return x


def compression_ratio(original_size: float, compressed_size: float) -> float:
    """``original / compressed``: > 1 means the variant is smaller.

    Expressed as a factor ("4x smaller") because that is how model compression is talked
    about and because factors multiply into :func:`efficiency`; a zero size would make it
    infinite, so sizes must be positive.
    """
    original = _positive_number(original_size, "original_size")
    compressed = _positive_number(compressed_size, "compressed_size")
    return original / compressed


def _mean_accuracy(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number or a sequence of numbers, got {value!r}")
    if isinstance(value, numbers.Real):
        values = [float(value)]
    elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)):
        try:
            values = _flat(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must contain only numbers") from None
        if not values:
            raise ValueError(f"{what}: no samples")
    else:
        raise ValueError(f"{what} must be a number or a sequence of numbers, got {value!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite")
    return float(np.mean(values))


def accuracy_delta(baseline_accuracy: float | Sequence[float],
                   variant_accuracy: float | Sequence[float]) -> float:
    """``variant - baseline``, in the accuracy's own units; negative means the variant lost
    accuracy.

    Either side may be a single figure or samples (repeated evaluations, seeds, flat or per
    process). Samples are reduced to their *mean*, not their median as timings are:
    accuracy noise is not one-sided the way timing noise is, an accuracy over several seeds
    is conventionally their average, and the mean keeps the delta equal to the average of
    paired differences.
    """
    return (_mean_accuracy(variant_accuracy, "variant_accuracy")
            - _mean_accuracy(baseline_accuracy, "baseline_accuracy"))


def efficiency(speedup: float, compression: float, accuracy_delta: float) -> float:
    """``speedup * compression / (1 + |accuracy_delta|)``.

    One ranking score among several possible, not a truth: it treats a 2x speedup and a 2x
    size reduction as equally valuable, and it penalises an accuracy change by its size in
    whatever unit the accuracy is in (a 1-point drop in percent costs half the score, 0.01
    as a fraction barely anything), so it also penalises accuracy *gains*. Use it to sort a
    table, and look at the Pareto front and the individual figures to decide.
    """
    s = _positive_number(speedup, "speedup")
    c = _positive_number(compression, "compression")
    if isinstance(accuracy_delta, bool) or not isinstance(accuracy_delta, numbers.Real) \
            or not math.isfinite(float(accuracy_delta)):
        raise ValueError(f"accuracy_delta must be a finite number, got {accuracy_delta!r}")
    return s * c / (1.0 + abs(float(accuracy_delta)))


# --------------------------------------------------------------------------- Pareto front


def _validated(points: Sequence[Sequence[float]],
               directions: Sequence[str]) -> list[tuple[Any, ...]]:
    """Points turned into "smaller is better" keys, after checking everything that could
    silently give a wrong front (a NaN compares false with everything, so it would be
    neither dominated nor dominating)."""
    if isinstance(directions, str):
        raise ValueError("directions must be a sequence such as ['min', 'max'], not a string")
    directions = list(directions)
    if not directions:
        raise ValueError("at least one objective direction is needed")
    for d in directions:
        if d not in DIRECTIONS:
            raise ValueError(f"direction must be 'min' or 'max', got {d!r}")
    keys = []
    for i, point in enumerate(points):
        point = tuple(point)
        if len(point) != len(directions):
            raise ValueError(f"point {i} has {len(point)} values for {len(directions)} "
                             "objectives")
        for v in point:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise ValueError(f"point {i}: {v!r} is not a number")
            if math.isnan(v):
                raise ValueError(f"point {i} has a NaN value")
        # Negation keeps ints exact, so huge integer coordinates still tie correctly.
        keys.append(tuple(v if d == "min" else -v for v, d in zip(point, directions, strict=True)))
    return keys


def _dominates(p: tuple, q: tuple) -> bool:
    return p != q and all(a <= b for a, b in zip(p, q, strict=True))


def _front_2d(keys: list[tuple]) -> list[int]:
    """Sort by (x, y) and sweep, keeping the best y seen at strictly smaller x.

    A point survives when nothing at a smaller x has a y as good (that would dominate it)
    and nothing at the same x has a smaller y; points equal to the best of their x are all
    kept, because an identical point does not dominate.
    """
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    front: list[int] = []
    best_y: Any = None  # not math.inf: a point at y = inf alone at the smallest x is optimal
    start = 0
    while start < len(order):
        x = keys[order[start]][0]
        end = start
        while end < len(order) and keys[order[end]][0] == x:
            end += 1
        group_min_y = keys[order[start]][1]  # sorted, so the first is the smallest
        if best_y is None or group_min_y < best_y:
            front.extend(i for i in order[start:end] if keys[i][1] == group_min_y)
            best_y = group_min_y
        start = end
    return sorted(front)


def _front_nd(keys: list[tuple]) -> list[int]:
    """Lexicographic sort, then each point is checked against the front found so far.

    A dominating point is never lexicographically greater, so it has been seen already;
    dominance is transitive, so a point dominated by a discarded point is also dominated by
    one on the front. Cost is n times the front size: quadratic at worst, which is fine
    for the handful of variants a report compares.
    """
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    front: list[int] = []
    for i in order:
        if not any(_dominates(keys[j], keys[i]) for j in front):
            front.append(i)
    return sorted(front)


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices, in input order, of the points no other point dominates.

    ``directions`` gives ``"min"`` or ``"max"`` per objective. A point dominates another
    when it is at least as good on every objective and better on one; so identical points
    are all kept (no variant should vanish from the front because another measured the
    same), while a point equal on all but one and worse there is dropped. The front, not a
    single score, is what lets a reader choose their own trade-off between speed, size and
    accuracy.
    """
    keys = _validated(points, directions)
    if not keys:
        return []
    if len(keys[0]) == 1:
        best = min(k[0] for k in keys)
        return [i for i, k in enumerate(keys) if k[0] == best]
    if len(keys[0]) == 2:
        return _front_2d(keys)
    return _front_nd(keys)


# --------------------------------------------------------------------------- fairness


def _python_differs(a: str, b: str) -> bool:
    # "3.11" and "3.11.7" name the same interpreter at different precision (one may come
    # from an import that only knew the minor version); warning about that would teach
    # people to ignore the warning.
    pa, pb = a.strip().split("."), b.strip().split(".")
    n = min(len(pa), len(pb))
    return pa[:n] != pb[:n]


def _warm_state(result: BenchmarkResult | None,
                run: RunResults | None) -> tuple[bool | None, str]:
    """Whether a result was measured warm: True, False, or None when nothing says.

    The rule, first source that speaks wins:

    1. ``result.extra["warmup"]`` (set by whatever measured the result; a bool, or a warm-up
       time in seconds): falsy or 0 means cold, anything else warm. Per benchmark, so it
       beats the run-wide setting.
    2. ``run.settings["warmup_time"]``: 0 means cold, > 0 warm, < 0 warm (the worker's
       "use the default warm-up").
    3. A run whose settings do not mention ``warmup_time`` used the suite's own warm-up,
       which by default is a warm-up: warm.
    4. No run and no ``extra["warmup"]``: unknown, and unknown never triggers a warning; a
       warning has to be something the reader can act on.
    """
    extra = result.extra if result is not None else {}
    flag = extra.get("warmup")
    if flag is not None:
        if isinstance(flag, numbers.Real) and not isinstance(flag, bool):
            return (flag != 0), f"extra warmup={flag}"
        return bool(flag), f"extra warmup={flag!r}"
    if run is None:
        return None, "unknown"
    if "warmup_time" in run.settings:
        t = run.settings["warmup_time"]
        if isinstance(t, numbers.Real) and not isinstance(t, bool) and not math.isnan(t):
            if t == 0:
                return False, "warmup_time=0"
            return True, f"warmup_time={t}" if t > 0 else "default warm-up"
        return None, "unknown"
    return True, "suite's own warm-up"


def _side(item: BenchmarkResult | RunResults | None, run: RunResults | None
          ) -> tuple[BenchmarkResult | None, RunResults | None]:
    if isinstance(item, RunResults):
        return None, run if run is not None else item
    return item, run


def unfair(a_result: BenchmarkResult | RunResults | None,
           b_result: BenchmarkResult | RunResults | None, *,
           a_run: RunResults | None = None, b_run: RunResults | None = None,
           a_machine: MachineRecord | None = None,
           b_machine: MachineRecord | None = None) -> list[str]:
    """One line per reason why comparing A with B is not like for like; [] when fair.

    Each line starts with what differs ("different machine", "different Python",
    "different benchmark version", "cold vs warm run"), then the A value vs the B value.
    Only facts known on both sides are compared: an empty Python string or version means
    "not recorded", and flagging it would bury real warnings under noise. ``a_result`` and
    ``b_result`` may be whole runs when only run-level fairness is of interest. Machine
    records, when given, catch two boxes that share a name but not their hardware. See
    :func:`_warm_state` for how cold and warm are told apart.
    """
    a_res, a_run = _side(a_result, a_run)
    b_res, b_run = _side(b_result, b_run)
    warnings: list[str] = []

    machine = _machine_warning(a_run, b_run, a_machine, b_machine)
    if machine:
        warnings.append(machine)
    if a_run is not None and b_run is not None and a_run.python and b_run.python \
            and _python_differs(a_run.python, b_run.python):
        warnings.append(f"different Python: {a_run.python} vs {b_run.python}")
    if a_res is not None and b_res is not None and a_res.version and b_res.version \
            and a_res.version != b_res.version:
        warnings.append(f"different benchmark version: {a_res.version!r} vs "
                        f"{b_res.version!r} (the benchmark code changed; timings measure "
                        "different work)")
    (a_warm, a_why), (b_warm, b_why) = _warm_state(a_res, a_run), _warm_state(b_res, b_run)
    if a_warm is not None and b_warm is not None and a_warm != b_warm:
        def word(warm: bool) -> str:
            return "warm" if warm else "cold"
        warnings.append(f"cold vs warm run: {word(a_warm)} ({a_why}) vs {word(b_warm)} "
                        f"({b_why}); first-call costs count on one side only")
    return warnings


def _machine_warning(a_run: RunResults | None, b_run: RunResults | None,
                     a_machine: MachineRecord | None,
                     b_machine: MachineRecord | None) -> str | None:
    if a_run is not None and b_run is not None and a_run.machine != b_run.machine:
        return f"different machine: {a_run.machine!r} vs {b_run.machine!r}"
    if a_machine is not None and b_machine is not None and not a_machine.same_machine(b_machine):
        ia, ib = a_machine.identity(), b_machine.identity()
        diff = ", ".join(f"{k} {ia[k]!r} vs {ib[k]!r}" for k in ia if ia[k] != ib.get(k))
        return f"different machine: {diff}"
    return None


fairness_warnings = unfair  # the name the report design uses; same function
