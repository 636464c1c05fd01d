"""Timing: time_ benchmarks in this process, timeraw_ ones in fresh interpreters.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import gc
import itertools
import subprocess
import sys
import textwrap
import time

from . import disturbance as _rule
from . import energy as _energy
from . import failures as _failures
from . import gauge as _gauge
from . import instance as _instance
from . import worker_spec as _spec

DEFAULTS = _spec.DEFAULTS
DEFAULT_WARMUP = 0.1


def _timed(func, args: tuple, number: int, timer) -> float:
    """Total seconds for ``number`` calls, with gc disabled so collections land nowhere."""
    loops = itertools.repeat(None, number)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = timer()
        for _ in loops:
            func(*args)
        return timer() - start
    finally:
        if gc_was_enabled:
            gc.enable()
        _instance.back_to_start_folder()


def _repeat_bounds(repeat, rounds: int) -> tuple[int, int, float]:
    """(min samples, max samples, time budget) for one round.

    0 means automatic: enough samples for a stable median and CI without letting a slow
    benchmark run for minutes.
    """
    if isinstance(repeat, (list, tuple)):
        lo, hi, budget = repeat
        return int(lo), int(hi), float(budget)
    if repeat:
        return int(repeat), int(repeat), float("inf")
    return (3, 8, 5.0) if rounds > 1 else (5, 20, 20.0)


def _calibrate(inst: _instance.BenchmarkInstance, sample_time: float, warmup_time: float,
               timer) -> int:
    """Grow ``number`` until one sample lasts ``sample_time``; warm up for ``warmup_time``."""
    number = 1
    start = timer()
    while True:
        elapsed = _timed(inst.func, inst.args, number, timer)
        if elapsed >= sample_time and timer() - start >= warmup_time:
            return number
        if elapsed < sample_time:
            factor = sample_time / elapsed if elapsed > 0 else 10.0
            number = max(number + 1, int(number * min(max(factor, 1.1), 10.0)))


def _warmup(inst: _instance.BenchmarkInstance, number: int, warmup_time: float, timer) -> None:
    start = timer()
    while timer() - start < warmup_time:
        _timed(inst.func, inst.args, number, timer)


def measure_time(inst: _instance.BenchmarkInstance,
                 cfg: _spec.RunConfig) -> tuple[list[float], int, dict]:
    timer = time.perf_counter
    warmup_time = float(cfg.get("warmup_time", inst.setting("warmup_time")))
    if warmup_time < 0:
        warmup_time = DEFAULT_WARMUP
    sample_time = float(cfg.get("sample_time") or inst.setting("sample_time"))
    number = int(cfg.get("number") or inst.setting("number") or 0)
    lo, hi, budget = _repeat_bounds(cfg.get("repeat", inst.setting("repeat")),
                                    int(cfg.get("rounds", DEFAULTS["rounds"])))
    if number <= 0:
        number = _calibrate(inst, sample_time, warmup_time, timer)
    else:
        _warmup(inst, number, warmup_time, timer)
    meter = _energy.EnergyMeter(cfg.get("energy") or {})
    gauge = _gauge.Gauge(cfg.get("gauge") or {})
    start = timer()
    while gauge.wants_more(lo, hi, budget, timer() - start):
        meter.begin()
        elapsed = _timed(inst.func, inst.args, number, timer)
        cpu = meter.end()
        share = cpu / elapsed if elapsed >= _rule.MIN_SHARE_SECONDS \
            else None  # too short to tell: the timers' own cost dominates
        gauge.record(elapsed / number, share, elapsed)
    energy = meter.per_call(len(gauge.samples) * number)
    extra = {"energy": energy} if energy else {}
    if gauge.enabled:
        extra["references"] = gauge.references
        extra["cpu_shares"] = gauge.cpu_shares
    return gauge.samples, number, extra


_TIMERAW_SCRIPT = """
import sys, timeit
stmt, setup, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(repr(timeit.Timer(stmt, setup).timeit(number)))
"""


def measure_timeraw(inst: _instance.BenchmarkInstance,
                    cfg: _spec.RunConfig) -> tuple[list[float], int, dict]:
    """Each sample in a fresh interpreter: for import times and other first-call costs."""
    code = inst.call()
    if isinstance(code, (tuple, list)):
        stmt, setup = code
    else:
        stmt, setup = code, ""
    number = int(cfg.get("number") or inst.attr("number", 1) or 1)
    lo, hi, budget = _repeat_bounds(cfg.get("repeat", inst.setting("repeat")), DEFAULTS["rounds"])
    hi = min(hi, 10) if not cfg.get("repeat") and not inst.attr("repeat") else hi
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < hi and (len(samples) < lo or time.perf_counter() - start < budget):
        proc = subprocess.run(
            [sys.executable, "-c", _TIMERAW_SCRIPT, textwrap.dedent(stmt),
             textwrap.dedent(setup), str(number)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            reason = _failures.last_line(proc.stderr)
            raise _failures.BenchmarkFailed(f"timeraw subprocess failed: {reason}")
        samples.append(float(proc.stdout.strip().splitlines()[-1]) / number)
    return samples, number, {}
