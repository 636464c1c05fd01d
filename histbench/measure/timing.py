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
DEFAULT_WARMUP = 0.1  # asv_runner on CPython; its JIT interpreters get more, below


class _Fixture:
    """The benchmark's setup/teardown between timed batches, by asv_runner's rule
    (benchmarks/_base.py, ``Benchmark.redo_setup``): a batch finds the fixture as the
    previous setup left it if no batch has used it yet, else it is torn down and set up
    afresh. The worker's own setup before measuring is the first one."""

    def __init__(self, inst: _instance.BenchmarkInstance):
        self.inst = inst
        self.used = False  # asv: Benchmark._redo_setup_next

    def reuse(self) -> None:
        """The next batch may use the fixture as it is (asv sets ``_redo_setup_next =
        False`` before every calibration batch, and before warm-up batches when there
        are no setup hooks)."""
        self.used = False

    def refresh(self) -> None:
        if not self.used:
            self.used = True
            return
        _instance.back_to_start_folder()  # setup never starts where a call moved to
        self.inst.do_teardown()
        self.inst.do_setup()


def _statement(inst: _instance.BenchmarkInstance):
    """What one timed call runs, as asv times it (``TimeBenchmark._param_bound_func``):
    the function itself, or with arguments a closure calling it with them."""
    func, args = inst.func, inst.args
    if not args:
        return func

    def call():
        func(*args)

    return call


class _Batches:
    """asv_runner's ``timer.timeit(number)`` (benchmarks/time.py), with gc off throughout.

    Batched (no setup hooks, or ``number`` 1): the fixture is refreshed once, then
    ``number`` calls are timed together, like ``timeit.Timer(stmt, setup=redo_setup)``.
    Interleaved (setup hooks and ``number`` > 1, ``_SetupInterleavedTimer``): the fixture
    is refreshed before every call and only the calls are timed, one by one.

    A batch returns (timed seconds, wall seconds and CPU seconds of the timed windows
    only): setup and teardown count in none of them, so the CPU share and energy are the
    calls' own.
    """

    def __init__(self, inst: _instance.BenchmarkInstance, timer, wall, interleaved: bool):
        self.fixture = _Fixture(inst)
        self.stmt = _statement(inst)
        self.timer, self.wall = timer, wall
        self.interleaved = interleaved
        self.runs = 0  # calls so far, calibration and warm-up included (asv: run_count)

    def run(self, number: int, meter: _energy.EnergyMeter | None = None
            ) -> tuple[float, float, float]:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if self.interleaved:
                timed = wall = cpu = 0.0
                for _ in range(number):
                    self.fixture.refresh()
                    t, w, c = self._timed(1, meter)
                    timed, wall, cpu = timed + t, wall + w, cpu + c
            else:
                self.fixture.refresh()
                timed, wall, cpu = self._timed(number, meter)
        finally:
            if gc_was_enabled:
                gc.enable()
            _instance.back_to_start_folder()
        self.runs += number
        return timed, wall, cpu

    def _timed(self, number: int, meter) -> tuple[float, float, float]:
        stmt, timer = self.stmt, self.timer
        loops = itertools.repeat(None, number)
        if meter is not None:
            meter.begin()
        wall_start = self.wall()
        start = timer()
        for _ in loops:
            stmt()
        timed = timer() - start
        wall = self.wall() - wall_start
        return timed, wall, (meter.end() if meter is not None else 0.0)


def _repeat_bounds(repeat, rounds: int) -> tuple[int, int, float]:
    """(min samples, max samples, time budget) for one round.

    0 means automatic: enough samples for a stable median and CI without letting a slow
    benchmark run for minutes (histbench's own choice: asv_runner takes 1 to 10, or 1 to
    5 over 10 s with more than one round).
    """
    if isinstance(repeat, (list, tuple)):
        lo, hi, budget = repeat
        return int(lo), int(hi), float(budget)
    if repeat:
        return int(repeat), int(repeat), float("inf")
    return (3, 8, 5.0) if rounds > 1 else (5, 20, 20.0)


def _warmup_seconds(value: float) -> float:
    """asv_runner's ``TimeBenchmark.run``: a negative warmup_time is the interpreter's."""
    if value >= 0:
        return value
    if "__pypy__" in sys.modules:
        return 1.0
    if "__graalpython__" in sys.modules:
        return 5.0
    return DEFAULT_WARMUP


def _calibrate(batches: _Batches, sample_time: float, warmup_time: float, start: float
               ) -> int:
    """asv_runner's ``benchmark_timing`` with number 0 (only without setup hooks): grow
    ``number`` until a batch lasts ``sample_time``, warming up for ``warmup_time``."""
    number = 1
    while True:
        batches.fixture.reuse()
        wall_start = batches.wall()
        timed = batches.run(number)[0]
        took = max(batches.wall() - wall_start, timed)
        if took >= sample_time:
            if batches.wall() > start + warmup_time:
                return number
        else:
            factor = sample_time / took if took > 0 else 10.0
            number = max(number + 1, int(number * min(max(factor, 1.1), 10.0)))


def _warmup(batches: _Batches, number: int, warmup_time: float, start: float,
            has_setup: bool) -> None:
    """asv_runner's warm-up with a known ``number``: whole batches, at least one; with
    setup hooks each finds a fresh fixture, as the samples will."""
    if warmup_time <= 0:
        return
    while True:
        if not has_setup:
            batches.fixture.reuse()
        batches.run(number)
        if batches.wall() >= start + warmup_time:
            return


def measure_time(inst: _instance.BenchmarkInstance, cfg: _spec.RunConfig,
                 known: int | None = None) -> tuple[list[float], int, dict]:
    """Samples of one time_ benchmark: seconds per call, timing the same work as
    asv_runner (``TimeBenchmark.run`` and ``benchmark_timing``, benchmarks/time.py).

    ``number`` is the run's override, else the suite's, else (no setup hooks) ``known``,
    the count calibrated in an earlier round or commit, else calibrated here. With setup
    hooks every timed call gets a freshly set-up fixture (asv#966): an automatic number
    is 1 (a known count is ignored: one left from before this rule would time calls on a
    used fixture), and an explicit number > 1 re-runs setup before each call, timing only
    the calls. histbench's own: how many samples (the gauge samples through bursts of
    disturbance, with a reference loop around every sample), CPU share and energy.
    """
    wall = time.perf_counter  # asv's wall_timer; read now, so that a suite's clock counts
    timer = inst.attr("timer", None) or wall  # the suite's timer times the calls, as asv
    warmup_time = _warmup_seconds(float(cfg.get("warmup_time", inst.setting("warmup_time"))))
    sample_time = float(cfg.get("sample_time") or inst.setting("sample_time"))
    min_run_count = int(inst.setting("min_run_count"))
    lo, hi, budget = _repeat_bounds(cfg.get("repeat", inst.setting("repeat")),
                                    int(cfg.get("rounds", DEFAULTS["rounds"])))
    has_setup = inst.has_setup
    number = int(cfg.get("number") or inst.setting("number") or 0)
    if number <= 0:
        number = 1 if has_setup else int(known or 0)
    batches = _Batches(inst, timer, wall, interleaved=has_setup and number > 1)
    start = wall()
    if number <= 0:
        number = _calibrate(batches, sample_time, warmup_time, start)
    else:
        _warmup(batches, number, warmup_time, start, has_setup)
    meter = _energy.EnergyMeter(cfg.get("energy") or {})
    gauge = _gauge.Gauge(cfg.get("gauge") or {})
    while True:
        # asv stops once min_repeat samples, min_run_count calls and the time budget
        # (counted from the start, warm-up included) are all reached, or at max_repeat.
        short = batches.runs < min_run_count and len(gauge.samples) < hi
        if not short and not gauge.wants_more(lo, hi, budget, wall() - start - warmup_time):
            break
        sample_start = wall()
        timed, timed_wall, cpu = batches.run(number, meter)
        share = cpu / timed_wall if timed_wall >= _rule.MIN_SHARE_SECONDS \
            else None  # too short to tell: the timers' own cost dominates
        gauge.record(timed / number, share, wall() - sample_start)
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
