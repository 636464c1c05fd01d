"""Variants of one workload side by side: the numbers a fair comparison report needs.

A benchmark family is a class (or module) whose benchmarks share a ``variant`` parameter
(``params = [["fp64", "fp32", "int8"]]``): its ``time_`` benchmark gives latency and
energy, a ``track_`` benchmark with ``higher_is_better`` gives accuracy, ``mem_`` or
``peakmem_`` gives memory. Alternatively two commits are the variants. Every figure is
relative to a baseline variant, with its confidence interval and significance, and every
comparison that is not like for like carries a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from histbench.analysis.metrics import (
    accuracy_delta,
    compression_ratio,
    efficiency,
    pareto_front,
    speedup,
    unfair,
)
from histbench.store.results import BenchmarkResult, RunResults
from histbench.store.statuses import Status

VARIANT_PARAM_NAMES = ("variant", "model", "impl", "implementation", "method", "version")


@dataclass
class Variant:
    label: str
    run: RunResults
    time: BenchmarkResult | None = None
    accuracy: BenchmarkResult | None = None
    memory: BenchmarkResult | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pareto: bool = False

    @property
    def latency(self) -> float | None:
        return _median(self.time)

    @property
    def energy(self) -> dict[str, Any] | None:
        return self.time.extra.get("energy") if self.time else None


@dataclass
class Family:
    name: str
    baseline: str
    variants: list[Variant]
    objectives: list[str]  # what the Pareto front was computed over


def _median(r: BenchmarkResult | None) -> float | None:
    return r.stats.median if r is not None and r.stats is not None else None


def _strip(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" \
        else value


def variant_of(result: BenchmarkResult) -> str | None:
    """The variant a result measures: a parameter named like one, else the first."""
    if not result.params:
        return None
    for name in VARIANT_PARAM_NAMES:
        if name in result.params:
            return _strip(result.params[name])
    return _strip(next(iter(result.params.values())))


def family_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _role(r: BenchmarkResult) -> str | None:
    if r.status != Status.OK:
        return None
    if r.kind in ("time", "timeraw"):
        return "time"
    if r.kind == "track" and r.higher_is_better:
        return "accuracy"
    if r.kind in ("mem", "peakmem"):
        return "memory"
    return None


def _assign(variant: Variant, r: BenchmarkResult) -> None:
    role = _role(r)
    if role and getattr(variant, role) is None:
        setattr(variant, role, r)


def families_from_params(run: RunResults, baseline: str,
                         chosen: set[str] | None = None) -> list[Family]:
    """Variants named by a parameter, within one run."""
    grouped: dict[str, dict[str, Variant]] = {}
    for r in run.results:
        if chosen is not None and r.name not in chosen:
            continue
        label = variant_of(r)
        if label is None:
            continue
        family = grouped.setdefault(family_of(r.name), {})
        _assign(family.setdefault(label, Variant(label, run)), r)
    families = []
    for name, variants in sorted(grouped.items()):
        if baseline in variants and len(variants) > 1:
            families.append(_finish(name, baseline, list(variants.values())))
    return families


def families_from_commits(base: RunResults, head: RunResults,
                          chosen: set[str] | None = None) -> list[Family]:
    """Two commits as the variants, benchmark family by family."""
    families: dict[str, tuple[Variant, Variant]] = {}
    for run, slot in ((base, 0), (head, 1)):
        for r in run.results:
            if chosen is not None and r.name not in chosen or r.params:
                continue
            pair = families.setdefault(family_of(r.name), (
                Variant(base.commit.short if base.commit else "base", base),
                Variant(head.commit.short if head.commit else "head", head)))
            _assign(pair[slot], r)
    return [_finish(name, pair[0].label, list(pair)) for name, pair in sorted(families.items())
            if pair[0].time or pair[0].accuracy]


def _finish(name: str, baseline: str, variants: list[Variant]) -> Family:
    base = next(v for v in variants if v.label == baseline)
    for v in variants:
        v.metrics = _metrics(base, v)
        v.warnings = _warnings(base, v)
    objectives = _pareto(variants)
    return Family(name, baseline, variants, objectives)


def _metrics(base: Variant, v: Variant) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if base.time and v.time:
        out["speedup"] = speedup(base.time.process_samples, v.time.process_samples).to_dict()
    if base.memory and v.memory and _median(base.memory) and _median(v.memory):
        out["compression"] = compression_ratio(_median(base.memory), _median(v.memory))
    if base.accuracy and v.accuracy:
        out["accuracy_delta"] = accuracy_delta(base.accuracy.samples, v.accuracy.samples)
    if "speedup" in out:
        out["efficiency"] = efficiency(out["speedup"]["value"], out.get("compression", 1.0),
                                       out.get("accuracy_delta", 0.0))
    return out


def _warnings(base: Variant, v: Variant) -> list[str]:
    found: list[str] = []
    for a, b in ((base.time, v.time), (base.accuracy, v.accuracy), (base.memory, v.memory)):
        if a is not None and b is not None:
            for w in unfair(a, b, a_run=base.run, b_run=v.run):
                if w not in found:
                    found.append(w)
    return found


def _pareto(variants: list[Variant]) -> list[str]:
    """Pareto-optimal variants over latency (min), accuracy (max), memory (min), using the
    objectives every variant has."""
    objectives = [(name, direction, getter) for name, direction, getter in (
        ("latency", "min", lambda v: v.latency),
        ("accuracy", "max", lambda v: _median(v.accuracy)),
        ("memory", "min", lambda v: _median(v.memory)),
    ) if all(getter(v) is not None for v in variants)]
    if not objectives:
        return []
    points = [tuple(getter(v) for _, _, getter in objectives) for v in variants]
    for i in pareto_front(points, [d for _, d, _ in objectives]):
        variants[i].pareto = True
    return [name for name, _, _ in objectives]
