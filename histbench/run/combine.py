"""A benchmark's rounds folded into one result per parameter set.

Samples stay grouped by the process that took them (the processes, not the samples, are
the independent values), and the samples the machine disturbed are set aside by the rule
of measure/disturbance.py, kept in the result as evidence.

A time_ benchmark counted under Valgrind (instruction mode, run/valgrind.py) gives two
series per parameter set instead of its time: ``name@instructions`` and ``name@cycles``,
each with its own kind, unit and version (the Valgrind settings folded in), never mixed
with the time series; there is no disturbance gauge to apply to them.
"""

from __future__ import annotations

import statistics
from typing import Any

from histbench.core.modes import COUNT_KINDS, count_series_name
from histbench.measure import disturbance
from histbench.run.settings import QuietLevel
from histbench.run.suite import BenchmarkSpec
from histbench.run.valgrind import series_version
from histbench.run.worker_process import Outcome
from histbench.store.results import BenchmarkResult, Disturbance
from histbench.store.statuses import Status


def combine(bench: BenchmarkSpec, rounds: list[dict[int, Outcome]],
            quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """Fold the rounds of one benchmark into one result per parameter set.

    A parameter set that failed in any round is reported failed (a flaky benchmark should
    be seen, not averaged over). Disturbed samples are judged against ``quiet``. Rounds
    counted under Valgrind (their outcomes carry its record) give the two
    instruction-mode series instead (``combine_instructions``).
    """
    valgrind = _valgrind_record(rounds)
    if valgrind is not None:
        return combine_instructions(bench, rounds, valgrind)
    quiet = quiet if quiet is not None else QuietLevel()
    results = []
    for index, params in bench.chosen():
        outs = [r[index] for r in rounds if index in r]
        result = _empty_result(bench, index, params)
        bad = _first_bad(outs)
        if bad or not outs:
            _mark_bad(result, bad)
        else:
            _split_disturbed(result, outs, quiet)
            energy = [o.extra["energy"] for o in outs if o.extra.get("energy")]
            if energy:
                result.extra["energy"] = combine_energy(energy)
            _finish(result, outs)
        results.append(result)
    return results


def failed_results(bench: BenchmarkSpec, status: Status, reason: str,
                   tail: str | None = None,
                   valgrind: dict[str, Any] | None = None) -> list[BenchmarkResult]:
    """Every parameter set of a benchmark marked with one reason (setup_cache failed, ...);
    in instruction mode (``valgrind``: its record), both of its series."""
    found = []
    for index, params in bench.chosen():
        made = _series_results(bench, index, params, valgrind) if valgrind is not None \
            else [_empty_result(bench, index, params)]
        for result in made:
            result.status, result.reason, result.stderr_tail = status, reason, tail
        found.extend(made)
    return found


def _valgrind_record(rounds: list[dict[int, Outcome]]) -> dict[str, Any] | None:
    return next((o.extra["valgrind"] for r in rounds for o in r.values()
                 if o.extra.get("valgrind")), None)


def combine_instructions(bench: BenchmarkSpec, rounds: list[dict[int, Outcome]],
                         valgrind: dict[str, Any]) -> list[BenchmarkResult]:
    """Instruction mode: per parameter set, the instructions per call and the estimated
    cycles per call (measure/instructions.py), grouped by process like time samples. The
    counts have no reference loop beside them, so nothing is set aside as disturbed; the
    cycles series keeps every event per call (``extra["events"]``, per process) so that
    the estimate can be made again with other weights."""
    results = []
    for index, params in bench.chosen():
        outs = [r[index] for r in rounds if index in r]
        made = _series_results(bench, index, params, valgrind)
        bad = _first_bad(outs)
        if not bad and outs and not all("cycles" in o.extra for o in outs):
            bad = Outcome(Status.FAILED, reason="the worker sent no instruction counts")
        for result in made:
            if bad or not outs:
                _mark_bad(result, bad)
                continue
            if result.kind == "cycles":
                result.process_samples = [[float(v) for v in o.extra["cycles"]] for o in outs]
                events = [o.extra.get("events") or {} for o in outs]
                result.extra["events"] = {name: [e.get(name, []) for e in events]
                                          for name in events[0]}
            else:
                result.process_samples = [list(o.samples) for o in outs]
            _finish(result, outs)
        results.extend(made)
    return results


def _first_bad(outs: list[Outcome]) -> Outcome | None:
    """A round that failed, else one that skipped: one such round decides the result (a
    flaky benchmark should be seen, not averaged over)."""
    failed = next((o for o in outs if o.status == Status.FAILED), None)
    return failed or next((o for o in outs if o.status == Status.SKIPPED), None)


def _mark_bad(result: BenchmarkResult, bad: Outcome | None) -> None:
    """``bad``'s status and reason, or failed and "not run" when no round ran it."""
    result.status = bad.status if bad else Status.FAILED
    result.reason = bad.reason if bad else "not run"
    result.stderr_tail = bad.stderr_tail if bad else None


def _finish(result: BenchmarkResult, outs: list[Outcome]) -> None:
    """What every result of rounds that ran takes from them, and its summary."""
    result.number = outs[0].number
    result.started_at = outs[0].started_at
    result.duration = sum(o.duration or 0.0 for o in outs)
    result.with_stats()


def _series_results(bench: BenchmarkSpec, index: int, params: dict[str, str],
                    valgrind: dict[str, Any]) -> list[BenchmarkResult]:
    return [BenchmarkResult(name=count_series_name(bench.name, kind), kind=kind,
                            params=dict(params), param_index=index, unit=kind,
                            version=series_version(bench.version, valgrind, kind),
                            higher_is_better=False, extra={"valgrind": dict(valgrind)})
            for kind in COUNT_KINDS]  # each a series of its own, its kind its unit


def _empty_result(bench: BenchmarkSpec, index: int, params: dict[str, str]) -> BenchmarkResult:
    return BenchmarkResult(name=bench.name, kind=bench.kind, params=params, param_index=index,
                           unit=bench.unit, version=bench.version,
                           higher_is_better=bench.higher_is_better)


def _split_disturbed(result: BenchmarkResult, outs: list[Outcome], quiet: QuietLevel) -> None:
    """Undisturbed samples, normalised, for the statistics; every sample kept beside them
    in measured order, with the record of how much the machine interfered. A process
    with no quiet sample adds none; when no process had one, every sample is used and
    the result says so (``fallback``)."""
    if not any(o.references for o in outs):  # no gauge: other kinds, or --keep-disturbed
        # (instruction counts never come here: combine_instructions)
        result.process_samples = [o.samples for o in outs]
        return
    flags, typical = disturbed_flags(outs, quiet)
    scaled = [disturbance.normalised(o.samples, o.references, quiet.anchor) for o in outs]
    clean = [[v for v, bad in zip(values, f, strict=True) if not bad]
             for values, f in zip(scaled, flags, strict=True)]
    fallback = not any(clean)
    result.process_samples = scaled if fallback else [g for g in clean if g]
    result.measured_samples = [o.samples for o in outs]
    result.process_references = [o.references for o in outs]
    result.process_cpu_shares = [o.cpu_shares for o in outs]
    slowdowns = _slowdowns(outs, quiet.seconds, typical)
    result.disturbance = Disturbance(
        samples=sum(len(o.samples) for o in outs), rejected=sum(map(sum, flags)),
        slowdown=statistics.median(slowdowns) if slowdowns else 1.0,
        worst=max(slowdowns, default=1.0), reference_level=quiet.seconds,
        normalised_to=quiet.anchor, fallback=fallback)


def disturbed_flags(outs: list[Outcome], quiet: QuietLevel) -> tuple[list[list[bool]], float]:
    """Per process, which of its samples the machine disturbed, judged against the run's
    quiet level and the benchmark's typical CPU share over all these processes (one that
    spent its whole life in a burst has no quiet share of its own); and that share. The
    one judgement behind a result's statistics and the runner's check for a round more
    (rounds.MIN_QUIET)."""
    typical = disturbance.typical_share([v for o in outs for v in o.cpu_shares])
    return [o.disturbed(quiet, typical) for o in outs], typical


def _slowdowns(outs: list[Outcome], level: float | None, typical: float) -> list[float]:
    """The machine's slowness during each sample, for this benchmark: the slower reference
    beside it over the quiet level, or, where a neighbour took the CPU in slices too short
    for the reference to see, the typical CPU share over the sample's own (a process given
    half its usual share runs at half speed). ``compare`` holds a change against the
    largest of these before it lets a disturbed side void a verdict."""
    if not level:
        return []
    return [max(disturbance.beside(o.references, i) / level,
                _share_slowdown(share, typical))
            for o in outs if len(o.references) == len(o.samples) + 1
            for i, share in enumerate(_padded(o.cpu_shares, len(o.samples)))]


def _padded(shares: list[float | None], n: int) -> list[float | None]:
    return (shares + [None] * n)[:n]


def _share_slowdown(share: float | None, typical: float) -> float:
    return typical / share if share and typical > share else 1.0


def combine_energy(per_process: list[dict[str, Any]]) -> dict[str, Any]:
    """Joules per call over the rounds: the median, the values, and whether any of them is
    an estimate (one estimated round makes the whole figure an estimate)."""
    median = statistics.median(e["joules_per_call"] for e in per_process)
    estimated = any(e.get("estimated", True) for e in per_process)
    out = {"joules_per_call": median, "per_process": [e["joules_per_call"]
                                                      for e in per_process],
           "estimated": estimated,
           "source": "cpu-time estimate" if estimated else per_process[0]["source"]}
    watts = [e["watts_per_core"] for e in per_process if "watts_per_core" in e]
    if watts:
        out["watts_per_core"] = watts[0]
    return out
