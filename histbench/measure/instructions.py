"""Instruction counts of time_ benchmarks under Valgrind's callgrind: the worker's side.

Standard library only: loaded by path beside worker.py in old commits' environments.

The parent (run/valgrind.py) starts the worker under ``setarch -R valgrind --tool=callgrind
--instr-atstart=no --cache-sim=yes`` with a fixed cache geometry and hash seed, and hands
it a compiled shim of callgrind's client requests, which this module loads with ctypes:

- ``shim``: each sample is one window, opened (ZERO_STATS + START_INSTRUMENTATION) just
  before the benchmark's calls and closed (STOP_INSTRUMENTATION + DUMP_STATS_AT) just
  after, so that setup, imports and the worker's own work are never counted. The dump file
  is read at once: its ``events:`` header and ``totals:`` line. The cost of an empty window
  (the shim's own calls, measured once per process) is subtracted. Instrumentation
  starts afresh with each window, with an empty simulated cache, so every sample starts
  alike.
- ``differential`` (no C compiler): whole-process counts, instrumentation on from the
  start. Processes k = 0..repeat each run ``repeat`` batches of the benchmark's fixture
  (setup and teardown as in time mode) and its calls in the first k of them only, so the
  setup work is the same in all; sample k is (count of process k+1 - count of process
  k) / number. By default one sample: two processes, one making ``number`` calls more than
  the other (each costs a Valgrind start with everything instrumented, ~5 s); they run
  side by side.

Both warm up with two untimed calls first (import and first-call effects, and Python's
specialising interpreter, are not counted: ``WARMUP_CALLS``), and take one call per
sample and 3 samples (the differential: 1) unless the suite or the run sets ``number`` or
``repeat``. The garbage collector is off around the calls, as in time mode (timing.py).
The shim's cycle estimate is of a cold cache (every window starts with an empty one); the
differential's, of the cache as the earlier calls left it: another reason the two never
share a series.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import json
import os
import subprocess
import sys

from . import failures as _failures
from . import instance as _instance
from . import timing as _timing
from . import worker_spec as _spec

DEFAULT_NUMBER = 1  # calls per sample
DEFAULT_REPEAT = 3  # samples per process: the counts barely move, more would only cost
DIFFERENTIAL_REPEAT = 1  # the fallback's samples cost a whole Valgrind process each
# Untimed calls before the samples: the first pays for imports and first-call effects, the
# second for Python 3.12+'s specialisation of the benchmark's bytecode (at an
# instruction's second run: +1% on a 70,000-instruction call, measured here).
WARMUP_CALLS = 2
# Uncounted windows of no call, before the warm-up (see _window). Not counted ones: each
# start of instrumentation makes Valgrind translate the code afresh, ~0.2 s.
EMPTY_WINDOWS = 6
# KCachegrind's cycle estimate (GlobalConfig::knownFormula in kcachegrind's
# libviews/globalconfig.cpp: "CEst = Ir + 10 Bm + 10 L1m + 20 Ge + 100 L2m + 100 LLm", with
# L1m = I1mr + D1mr + D1mw and LLm = ILmr + DLmr + DLmw). Without branch simulation (Bm),
# global bus events (Ge) or a separate L2 it is the formula below: an L1 miss served by
# the last-level cache costs 10 cycles, one served by memory 100.
L1_MISS_CYCLES = 10
LL_MISS_CYCLES = 100
CYCLES_FORMULA = "Ir + 10 * (I1mr + D1mr + D1mw) + 100 * (ILmr + DLmr + DLmw)"
SHIM = "shim"
DIFFERENTIAL = "differential"


def estimated_cycles(events: dict) -> float:
    """KCachegrind's cycle estimate (``CYCLES_FORMULA``) of a dump's event counts:
    ``Ir + 10 * (I1mr + D1mr + D1mw) + 100 * (ILmr + DLmr + DLmw)``. The weights are
    KCachegrind's (libviews/globalconfig.cpp, GlobalConfig::knownFormula, "CEst"): a rough
    model of a cache hierarchy, for ranking and for changes, not a cycle count."""
    def get(name):
        return float(events.get(name, 0))

    l1 = get("I1mr") + get("D1mr") + get("D1mw")
    ll = get("ILmr") + get("DLmr") + get("DLmw")
    return get("Ir") + L1_MISS_CYCLES * l1 + LL_MISS_CYCLES * ll


def read_dump(path: str) -> tuple[str, dict]:
    """(the dump's trigger, event name -> count) of one callgrind output file: the
    ``events:`` header names the columns of the ``totals:`` line (``summary:`` in files
    without one); trailing zero columns may be left out."""
    names, totals, summary, trigger = None, None, None, ""
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split(":", 1)[1].split()
            elif line.startswith("totals:"):
                totals = line.split(":", 1)[1].split()
            elif line.startswith("summary:"):
                summary = line.split(":", 1)[1].split()
            elif line.startswith("desc: Trigger:"):
                trigger = line.split(":", 2)[2].strip()
    values = totals if totals is not None else summary
    if names is None or values is None:
        raise _failures.BenchmarkFailed(f"{path}: not a callgrind dump (no events or totals)")
    counts = dict.fromkeys(names, 0)
    for i, value in enumerate(values[:len(names)]):
        counts[names[i]] = int(value)
    return trigger, counts


def _add(total: dict, more: dict, factor: int = 1) -> dict:
    out = dict(total)
    for name, value in more.items():
        out[name] = out.get(name, 0) + factor * value
    return out


def _per_call(events: dict, number: int) -> dict:
    return {name: max(0.0, float(value)) / number for name, value in events.items()}


def settings_of(inst: _instance.BenchmarkInstance, cfg: _spec.RunConfig,
                default_repeat: int = DEFAULT_REPEAT) -> tuple[int, int]:
    """(calls per sample, samples): the run's, else the suite's, else one and three (one
    for the differential method). A known (calibrated) count is not used: instruction
    counts need no long batches."""
    number = int(cfg.get("number") or inst.setting("number") or DEFAULT_NUMBER)
    repeat = cfg.get("repeat") or inst.setting("repeat") or default_repeat
    if isinstance(repeat, (list, tuple)):  # [min, max, seconds]: counts need the minimum
        repeat = repeat[0]
    return max(1, number), max(1, int(repeat))


def measure_instructions(inst: _instance.BenchmarkInstance, cfg: _spec.RunConfig,
                         icfg: _spec.InstructionsConfig, spec: _spec.RunSpec,
                         index: int) -> tuple[list[float], int, dict]:
    """Samples of one time_ benchmark in instructions per call; ``extra`` holds the
    estimated cycles per call (``cycles``), every event per call (``events``) and the
    method used."""
    differential = icfg.get("method") == DIFFERENTIAL
    number, repeat = settings_of(inst, cfg, DIFFERENTIAL_REPEAT if differential
                                 else DEFAULT_REPEAT)
    if differential:
        per_sample = _differential(spec, index, icfg, number, repeat)
        extra = {}
    else:
        per_sample, overhead = _with_shim(inst, icfg, number, repeat)
        extra = {"overhead": overhead}
    extra["method"] = icfg.get("method") or SHIM
    extra["cycles"] = [estimated_cycles(e) for e in per_sample]
    extra["events"] = {name: [e.get(name, 0.0) for e in per_sample]
                       for name in per_sample[0]} if per_sample else {}
    return [float(e.get("Ir", 0.0)) for e in per_sample], number, extra


class _Calls:
    """The benchmark's calls under time mode's rules (timing.py, after asv_runner): the
    fixture refreshed before each batch (setup hooks and ``number`` > 1: before each call),
    the garbage collector off around them, the folder restored after."""

    def __init__(self, inst: _instance.BenchmarkInstance, number: int):
        self.inst, self.number = inst, number
        self.fixture = _timing._Fixture(inst)
        self.stmt = _timing._statement(inst)
        self.interleaved = inst.has_setup and number > 1

    def warm_up(self, run) -> None:
        """``WARMUP_CALLS`` untimed calls through ``run``, the first on the fixture the
        worker's setup made; with setup hooks each on a fresh one, as in time mode."""
        for _ in range(WARMUP_CALLS):
            if not self.inst.has_setup:
                self.fixture.reuse()
            self.batch(run, number=1)

    def batch(self, run, number: int | None = None) -> list:
        """``run(stmt, n)`` for one batch of ``number`` calls: once, or once per call with
        a fresh fixture each; what each ``run`` returned."""
        number = self.number if number is None else number
        results = []
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            if self.interleaved and number > 1:
                for _ in range(number):
                    self.fixture.refresh()
                    results.append(run(self.stmt, 1))
            else:
                self.fixture.refresh()
                results.append(run(self.stmt, number))
        finally:
            if was_enabled:
                gc.enable()
            _instance.back_to_start_folder()
        return results


def plain_calls(stmt, number: int) -> None:
    for _ in itertools.repeat(None, number):
        stmt()


def _nothing() -> None:
    return None


def _window(stmt, number: int, start, stop, label: bytes) -> None:
    """What runs between a sample's brackets. The warm-up runs it too, with brackets that
    do nothing, so that Python's specialising interpreter has settled it before the first
    sample (3.11 rewrites a code object's bytecode after 8 entries and loop turns; 3.12 and
    later specialise an instruction on its second run): a sample must not pay for it."""
    loops = itertools.repeat(None, number)
    start()
    for _ in loops:
        stmt()
    stop(label)


class Shim:
    """callgrind's client requests through the compiled shim (run/valgrind.py)."""

    def __init__(self, path: str, out_dir: str):
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise _failures.BenchmarkFailed(f"cannot load the callgrind shim: {exc}") from None
        lib.histbench_on_valgrind.restype = ctypes.c_int
        lib.histbench_start.restype = None
        lib.histbench_stop.restype = None
        lib.histbench_stop.argtypes = [ctypes.c_char_p]
        lib.histbench_nothing.restype = None  # the brackets of a warm-up: none
        self.on_valgrind = bool(lib.histbench_on_valgrind())
        self._start, self._stop = lib.histbench_start, lib.histbench_stop
        self._nothing = lib.histbench_nothing
        self.out_dir = out_dir
        self.prefix = f"cg.{os.getpid()}."
        self.dumps = 0

    def window(self, stmt, number: int) -> dict:
        """The events of ``number`` calls of ``stmt``, and of nothing else but the loop
        and the shim's own entry and exit (``overhead``)."""
        self.dumps += 1
        name = f"histbench-{self.dumps}"
        _window(stmt, number, self._start, self._stop, name.encode())
        return self._read(name)

    def uncounted(self, stmt, number: int) -> None:
        """The same calls through the same code, not counted: the warm-up."""
        _window(stmt, number, self._nothing, self._nothing, b"")

    def _read(self, name: str) -> dict:
        """The dump just written: this process's newest, checked by its trigger."""
        found = []
        for entry in os.listdir(self.out_dir):
            if entry.startswith(self.prefix) and entry[len(self.prefix):].isdigit():
                found.append((int(entry[len(self.prefix):]), entry))
        if not found:
            raise _failures.BenchmarkFailed(
                f"callgrind wrote no dump into {self.out_dir} (is the worker under valgrind?)")
        path = os.path.join(self.out_dir, max(found)[1])
        trigger, events = read_dump(path)
        if not trigger.endswith(name):
            raise _failures.BenchmarkFailed(f"{path}: not the dump of window {name!r}")
        os.remove(path)
        return events


def _with_shim(inst: _instance.BenchmarkInstance, icfg: _spec.InstructionsConfig,
               number: int, repeat: int) -> tuple[list[dict], dict]:
    shim = Shim(icfg["shim"] or "", icfg["out_dir"])
    if not shim.on_valgrind:
        raise _failures.BenchmarkFailed(
            "instruction mode, but the worker is not running under valgrind (is the "
            "environment's python a wrapper script rather than the interpreter?)")
    calls = _Calls(inst, number)
    for _ in range(EMPTY_WINDOWS):  # the window's own code settled, before the warm-up
        shim.uncounted(_nothing, 0)
    calls.warm_up(shim.uncounted)
    overhead = shim.window(_nothing, 0)  # the brackets' own cost, as every sample pays it
    samples = []
    for _ in range(repeat):
        windows = calls.batch(shim.window)
        total: dict = {}
        for events in windows:
            total = _add(total, events)
        samples.append(_per_call(_add(total, overhead, -len(windows)), number))
    return samples, overhead


def _differential(spec: _spec.RunSpec, index: int, icfg: _spec.InstructionsConfig,
                  number: int, repeat: int) -> list[dict]:
    """Whole-process counts of processes that differ only in how many batches call the
    benchmark: each difference is one batch's calls. The processes are independent (a
    count does not depend on the machine's load), so they run side by side, one per CPU."""
    todo = list(range(repeat + 1))
    totals = {}
    width = max(1, os.cpu_count() or 1)
    while todo:
        started = [_start_count(spec, index, icfg, repeat, k) for k in todo[:width]]
        todo = todo[width:]
        for _, proc, _, _ in started:  # all of them, even if one failed
            proc.wait()
        for k, proc, folder, log in started:
            totals[k] = _finish_count(proc, folder, log)
    return [_per_call(_add(totals[k + 1], totals[k], -1), number) for k in range(repeat)]


def _start_count(spec: _spec.RunSpec, index: int, icfg: _spec.InstructionsConfig,
                 batches: int, counted: int):
    """One ``worker.py count`` process under valgrind, its dumps into a folder of its own."""
    folder = os.path.join(icfg["out_dir"], f"count-{os.getpid()}-{index}-{counted}")
    os.makedirs(folder)
    out_arg = "--callgrind-out-file="
    command = [a for a in icfg["command"] if not a.startswith(out_arg)]
    command.append(out_arg + os.path.join(folder, "cg.%p"))
    child = dict(spec, param_indices=[index],
                 instructions=dict(icfg, out_dir=folder, batches=batches, counted=counted))
    spec_path = os.path.join(folder, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(child, f)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
    log = os.path.join(folder, "log.txt")
    with open(log, "wb") as out:
        proc = subprocess.Popen(command + [sys.executable, worker, "count", spec_path],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return counted, proc, folder, log


def _finish_count(proc: subprocess.Popen, folder: str, log: str) -> dict:
    """The events of a count process: its worker's dump. The worker is the child the
    keeper forks (lifeline.py), and callgrind's count in a forked child goes on from its
    parent's, start-up included; the keeper's own (it waits, then scans /proc, whose size
    depends on the machine) is left out. Without a keeper the process is its own worker."""
    proc.wait()
    if proc.returncode != 0:
        with open(log, errors="replace") as f:
            text = f.read()
        sys.stderr.write(text[-_failures.TAIL_CHARS:])
        own = "\n".join(ln for ln in text.splitlines() if not is_valgrind_line(ln))
        raise _failures.BenchmarkFailed(
            f"instruction count process exited with status {proc.returncode}: "
            f"{_failures.last_line(own)}")
    dumps = [e for e in os.listdir(folder) if e.startswith("cg.") and e[3:].isdigit()]
    workers = [e for e in dumps if e != f"cg.{proc.pid}"] or dumps
    if len(workers) != 1:
        raise _failures.BenchmarkFailed(
            f"{folder}: expected one callgrind dump of the count process, found "
            f"{len(workers)} (does the benchmark start processes of its own?)")
    return read_dump(os.path.join(folder, workers[0]))[1]


def is_valgrind_line(line: str) -> bool:
    """Valgrind's own messages, ``==123== ...`` or ``--123-- warning: ...``."""
    head = line[:2]
    if head not in ("==", "--"):
        return False
    end = line.find(head, 2)
    return end > 2 and line[2:end].isdigit()


def count(inst: _instance.BenchmarkInstance, cfg: _spec.RunConfig,
          icfg: _spec.InstructionsConfig) -> None:
    """A ``differential`` count process: the warm-up call, then ``batches`` batches of the
    fixture, the first ``counted`` of them with the benchmark's calls."""
    number = settings_of(inst, cfg)[0]
    calls = _Calls(inst, number)
    calls.warm_up(plain_calls)
    counted = int(icfg.get("counted") or 0)
    for k in range(int(icfg.get("batches") or 0)):
        calls.batch(plain_calls if k < counted else _no_calls)


def _no_calls(stmt, number: int) -> None:
    return None
