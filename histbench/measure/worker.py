"""The measurement worker: runs inside the benchmark environment, standard library only.

It is executed by path (``python worker.py MODE SPEC.json``) with the interpreter of the
environment under test, which may be an old commit's virtualenv that has never heard of
histbench, numpy or anything else. So it imports nothing but the standard library, and it
speaks to the parent only through files and a pipe of JSON lines: the benchmarks' own
stdout/stderr stay free for them to print on.

Modes:
  discover SPEC  -> writes a JSON description of every benchmark (and import errors)
  setup_cache SPEC -> runs one ``setup_cache`` and pickles its result
  run SPEC       -> runs one round of one benchmark for a list of parameter sets, writing
                    events ``{"event": "start"|"result", ...}`` to the file descriptor
                    named in the spec, one line per event, flushed immediately, so the
                    parent can enforce a per-parameter-set timeout and keep what finished
                    even if the process later dies
  peakmem SPEC   -> one fresh process calling one peakmem_ benchmark, reports its max RSS
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import importlib.util
import inspect
import itertools
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
import traceback
import types

# Run by path, this file's folder is sys.path[0]; drop it so histbench's own module names
# can never shadow the benchmarks' imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]


def _load_beside(stem: str) -> types.ModuleType:
    """A module beside this file, by path: the worker cannot import histbench."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), stem + ".py")
    spec = importlib.util.spec_from_file_location("_histbench_" + stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rule = _load_beside("disturbance")
_spec = _load_beside("worker_spec")  # the spec files' keys, and DEFAULTS
PACKAGE_ALIAS = "_histbench_suite"
KINDS = ("timeraw", "time", "mem", "peakmem", "track")
DEFAULT_UNITS = {
    "time": "seconds",
    "timeraw": "seconds",
    "mem": "bytes",
    "peakmem": "bytes",
    "track": "unit",
}
DEFAULTS = _spec.DEFAULTS
DEFAULT_WARMUP = 0.1
TAIL_CHARS = 2000


# ---------------------------------------------------------------------------------------
# Discovery


def _load_suite_package(benchmark_dir: str) -> types.ModuleType:
    """Import the benchmark folder as a package without putting its parent on sys.path.

    Putting the parent on sys.path (the easy way) would let the project's *working tree*
    shadow the commit installed in the environment, so every commit would measure the same
    code. A package with an explicit ``__path__`` keeps relative imports working instead.
    """
    if PACKAGE_ALIAS in sys.modules:
        return sys.modules[PACKAGE_ALIAS]
    init = os.path.join(benchmark_dir, "__init__.py")
    if os.path.exists(init):
        spec = importlib.util.spec_from_file_location(
            PACKAGE_ALIAS, init, submodule_search_locations=[benchmark_dir]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE_ALIAS] = module
        spec.loader.exec_module(module)
    else:
        module = types.ModuleType(PACKAGE_ALIAS)
        module.__path__ = [benchmark_dir]
        sys.modules[PACKAGE_ALIAS] = module
    return module


def _module_names(benchmark_dir: str) -> list[str]:
    """Dotted names (relative to the suite) of every module, nested packages included."""
    names = []
    for root, dirs, files in os.walk(benchmark_dir):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "__")) and _is_package_dir(root, d)
        )
        rel = os.path.relpath(root, benchmark_dir)
        prefix = "" if rel == "." else rel.replace(os.sep, ".") + "."
        for f in sorted(files):
            if f.endswith(".py") and f != "__init__.py" and not f.startswith("."):
                names.append(prefix + f[:-3])
    return names


def _is_package_dir(root: str, name: str) -> bool:
    return os.path.exists(os.path.join(root, name, "__init__.py"))


def _import(benchmark_dir: str, module_name: str) -> types.ModuleType:
    _load_suite_package(benchmark_dir)
    return importlib.import_module(PACKAGE_ALIAS + "." + module_name)


def _kind_of(name: str) -> str | None:
    for kind in KINDS:
        if name.startswith(kind + "_"):
            return kind
    return None


def _lookup(attr: str, func, cls, module, default=None):
    """asv's lookup order: the function, then its class, then its module."""
    for owner in (func, cls, module):
        if owner is not None and hasattr(owner, attr):
            return getattr(owner, attr)
    return default


def _normalize_params(params) -> list[list]:
    """asv accepts a flat list for a single parameter; normalise to a list of lists."""
    if params is None:
        return []
    params = list(params)
    if not params:
        return []
    if not all(isinstance(p, (list, tuple)) for p in params):
        return [params]
    return [list(p) for p in params]


def _source(obj) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return ""


def _iter_benchmarks(module):
    """Yield (qualified suffix, function, class) for every benchmark in a module."""
    for attr_name, value in sorted(vars(module).items()):
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for meth_name in sorted(dir(value)):
                if _kind_of(meth_name) is None:
                    continue
                meth = getattr(value, meth_name)
                if callable(meth):
                    yield f"{attr_name}.{meth_name}", meth, value
        elif _kind_of(attr_name) and inspect.isfunction(value):
            if value.__module__ == module.__name__:
                yield attr_name, value, None


def _describe(module_name: str, module, suffix: str, func, cls) -> dict:
    kind = _kind_of(suffix.rsplit(".", 1)[-1])
    params = _normalize_params(_lookup("params", func, cls, module))
    names = _lookup("param_names", func, cls, module)
    names = list(names) if names else [f"param{i + 1}" for i in range(len(params))]
    if len(names) != len(params):
        raise ValueError(f"param_names has {len(names)} names for {len(params)} params")
    setup = _lookup("setup", None, cls, module)
    teardown = _lookup("teardown", None, cls, module)
    setup_cache = _lookup("setup_cache", None, cls, module)
    code = _source(func)
    version = _lookup("version", func, cls, module)
    if version is None:
        pieces = [code] + [_source(f) for f in (setup, teardown, setup_cache) if f]
        version = hashlib.sha256("\n".join(pieces).encode()).hexdigest()
    rounds = DEFAULTS["rounds"]
    for owner in (module, cls, func):  # nearest owner wins; `processes` is asv's old name
        for attr in ("processes", "rounds"):
            if owner is not None and attr in _own_attrs(owner):
                rounds = getattr(owner, attr)
    info = {
        "name": f"{module_name}.{suffix}",
        "module": module_name,
        "kind": kind,
        "params": [[repr(v) for v in p] for p in params],
        "param_names": names,
        "unit": _lookup("unit", func, cls, module, DEFAULT_UNITS[kind]),
        "pretty_name": _lookup("pretty_name", func, cls, module),
        "version": str(version),
        "higher_is_better": bool(_lookup("higher_is_better", func, cls, module, False)),
        "code": code,
        "rounds": int(rounds),
        "setup_cache_key": None,
        "setup_cache_timeout": None,
    }
    for key in ("timeout", "number", "repeat", "warmup_time", "sample_time", "min_run_count"):
        value = _lookup(key, func, cls, module)
        if key == "repeat" and isinstance(value, (list, tuple)):
            value = list(value)
        info[key] = value if value is not None else DEFAULTS[key]
    if setup_cache is not None:
        owner = cls.__name__ if cls is not None and "setup_cache" in _class_dict(cls) else ""
        info["setup_cache_key"] = f"{module_name}:{owner}:{_lineno(setup_cache)}"
        info["setup_cache_timeout"] = getattr(setup_cache, "timeout", None)
    return info


def _own_attrs(owner) -> dict:
    return _class_dict(owner) if inspect.isclass(owner) else getattr(owner, "__dict__", {})


def _class_dict(cls) -> dict:
    merged: dict = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass))
    return merged


def _lineno(func) -> int:
    try:
        return inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return 0


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def discover(spec: _spec.DiscoverSpec) -> dict:
    """Describe the suite; a module that fails to import is an error entry, not a crash."""
    benchmark_dir = os.path.abspath(spec["benchmark_dir"])
    benchmarks, errors = [], []
    try:
        _load_suite_package(benchmark_dir)
        module_names = _module_names(benchmark_dir)
    except BaseException as exc:  # noqa: BLE001 - a broken __init__ is reported, not raised
        return {"benchmarks": [], "errors": [_import_error(benchmark_dir, exc)]}
    for module_name in module_names:
        path = os.path.join(benchmark_dir, *module_name.split(".")) + ".py"
        try:
            module = _import(benchmark_dir, module_name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is an error too
            errors.append(_import_error(path, exc))
            continue
        for suffix, func, cls in _iter_benchmarks(module):
            try:
                benchmarks.append(_describe(module_name, module, suffix, func, cls))
            except Exception as exc:
                errors.append({"file": path, "benchmark": f"{module_name}.{suffix}",
                               "error": _one_line(exc), "traceback": _tb_tail()})
    return {"benchmarks": benchmarks, "errors": errors}


def _import_error(path: str, exc: BaseException) -> dict:
    return {"file": path, "benchmark": None, "error": _one_line(exc), "traceback": _tb_tail()}


def _tb_tail() -> str:
    return traceback.format_exc()[-TAIL_CHARS:]


# ---------------------------------------------------------------------------------------
# Resolving one benchmark


class Skipped(Exception):
    """setup raised NotImplementedError: the benchmark does not apply to this parameter set."""


class BenchmarkFailed(Exception):
    """A one-line reason the parent records verbatim."""


def _resolve(benchmark_dir: str, name: str):
    """Find (function, class, module) for a benchmark name such as ``mod.Class.time_x``."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = _import(benchmark_dir, module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(PACKAGE_ALIAS + "." + module_name):
                continue
            raise
        rest = parts[split:]
        if len(rest) == 1:
            return getattr(module, rest[0]), None, module
        if len(rest) == 2:
            cls = getattr(module, rest[0])
            return getattr(cls, rest[1]), cls, module
    raise BenchmarkFailed(f"no benchmark named {name!r}")


def _param_sets(func, cls, module) -> list[tuple]:
    params = _normalize_params(_lookup("params", func, cls, module))
    if not params:
        return [()]
    return list(itertools.product(*params))


class _Instance:
    """One benchmark bound to one parameter set, with its setup/teardown."""

    def __init__(self, benchmark_dir: str, name: str, index: int, cache_file: str | None):
        func, cls, module = _resolve(benchmark_dir, name)
        self.kind = _kind_of(name.rsplit(".", 1)[-1])
        combos = _param_sets(func, cls, module)
        if not 0 <= index < len(combos):
            raise BenchmarkFailed(f"parameter index {index} out of range ({len(combos)} sets)")
        self.args: tuple = combos[index]
        if cache_file:
            with open(cache_file, "rb") as f:
                self.args = (pickle.load(f),) + tuple(self.args)
        owner = cls() if cls is not None else None
        self.func = getattr(owner, func.__name__) if owner is not None else func
        self.setup = _bound(_lookup("setup", None, cls, module), owner)
        self.teardown = _bound(_lookup("teardown", None, cls, module), owner)
        self.module, self.cls, self.raw_func = module, cls, func

    def attr(self, key: str, default=None):
        return _lookup(key, self.raw_func, self.cls, self.module, default)

    def setting(self, key: str):
        """A timing attribute, or the default discovery reports for it."""
        return self.attr(key, DEFAULTS[key])

    def do_setup(self) -> None:
        if self.setup is None:
            return
        try:
            self.setup(*self.args)
        except NotImplementedError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise Skipped(f"setup raised NotImplementedError{detail}") from None

    def do_teardown(self) -> None:
        if self.teardown is not None:
            self.teardown(*self.args)

    def call(self):
        return self.func(*self.args)


def _bound(func, owner):
    if func is None:
        return None
    if owner is not None and hasattr(owner, func.__name__):
        return getattr(owner, func.__name__)
    return func


# ---------------------------------------------------------------------------------------
# Timing


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


def _calibrate(inst: _Instance, sample_time: float, warmup_time: float, timer) -> int:
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


def _warmup(inst: _Instance, number: int, warmup_time: float, timer) -> None:
    start = timer()
    while timer() - start < warmup_time:
        _timed(inst.func, inst.args, number, timer)


def measure_time(inst: _Instance, cfg: _spec.RunConfig) -> tuple[list[float], int, dict]:
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
    meter = EnergyMeter(cfg.get("energy") or {})
    gauge = _Gauge(cfg.get("gauge") or {})
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


class _Gauge:
    """Times the reference loop around every sample, and keeps sampling through a burst.

    The parent decides which samples were disturbed, by the rule in disturbance.py; the
    worker applies the same rule only to decide *how long* to sample: a round goes on
    until it has its usual number of undisturbed samples, or until it has spent ``wait``
    seconds on disturbed ones (then the parent sees the disturbance and may run the round
    again). Bursts on shared machines last seconds, so a few seconds of waiting usually
    see one out. ``{"enabled": False}`` turns both off: every sample counts, as before.
    """

    def __init__(self, cfg: _spec.GaugeConfig):
        self.enabled = bool(cfg.get("enabled", True))
        self.level = cfg.get("level")  # the quietest reference level earlier rounds saw
        self.wait = float(cfg.get("wait", _rule.WAIT_SECONDS))
        self.samples: list[float] = []
        self.cpu_shares: list[float | None] = []
        self.references: list[float] = []
        if self.enabled:
            self.references.append(_rule.reference_seconds(time.perf_counter))
        self.clean = 0
        self.disturbed_time = 0.0
        self.best_share = 0.0  # the typical share of disturbance.typical_share, so far

    def wants_more(self, lo: int, hi: int, budget: float, elapsed: float) -> bool:
        if not self.enabled:
            n = len(self.samples)
            return n < hi and (n < lo or elapsed < budget)
        if self.clean >= hi or (self.clean >= lo and elapsed >= budget):
            return False
        return not (self.disturbed_time >= self.wait and len(self.samples) >= lo)

    def record(self, sample: float, cpu_share: float | None, elapsed: float) -> None:
        self.samples.append(sample)
        self.cpu_shares.append(cpu_share)
        if not self.enabled:
            return
        self.references.append(_rule.reference_seconds(time.perf_counter))
        if cpu_share is not None:
            self.best_share = max(self.best_share, cpu_share)
        level = _rule.quiet_level(self.references, self.level)
        slower = _rule.beside(self.references, len(self.samples) - 1)
        if _rule.sample_disturbed(slower, cpu_share, level, self.best_share):
            self.disturbed_time += elapsed
        else:
            self.clean += 1


class EnergyMeter:
    """Joules spent by the timed loop: RAPL counters where readable, else an estimate.

    RAPL (``<powercap>/intel-rapl:N/energy_uj``, one per CPU package; AMD exposes the same
    files) counts the whole package, so the figure includes whatever else runs on the
    machine: it is a measurement of the machine during the benchmark, not of the
    benchmark alone. Without readable counters (VMs, containers, non-root), the estimate
    is CPU seconds times a configured watts per core, and it is always flagged
    ``estimated`` so no one mistakes it for a measurement.
    """

    def __init__(self, cfg: _spec.EnergyConfig):
        root = cfg.get("powercap_root") or "/sys/class/powercap"
        self.watts = float(cfg.get("watts_per_core") or 10.0)
        self.zones = self._packages(root)
        self.total_uj: int | None = 0 if self.zones else None
        self.cpu_seconds = 0.0
        self.mark_uj: list[int] | None = None
        self.mark_cpu = 0.0

    def begin(self) -> None:
        """Before a sample: only the samples' energy is counted, not the reference loop
        timed between them."""
        self.mark_uj = self._read()
        self.mark_cpu = time.process_time()

    def end(self) -> float:
        """After a sample: add what it spent; returns its CPU seconds (for its CPU share).
        Counters are read around every sample, so one that wraps during a long round is
        seen to wrap each time."""
        cpu = time.process_time() - self.mark_cpu
        self.cpu_seconds += cpu
        now = self._read()
        if now is None or self.mark_uj is None or self.total_uj is None:
            self.total_uj = None
            return cpu
        for (_, wrap), a, b in zip(self.zones, self.mark_uj, now):  # noqa: B905 (py<3.10)
            self.total_uj += b - a if b >= a else b + wrap - a  # the counter wrapped
        return cpu

    @staticmethod
    def _packages(root: str) -> list[tuple[str, int]]:
        zones = []
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return []
        for name in names:
            # intel-rapl:0 is a package; intel-rapl:0:0 a sub-zone already counted in it.
            if name.count(":") != 1 or not name.startswith(("intel-rapl", "amd-rapl")):
                continue
            path = os.path.join(root, name, "energy_uj")
            try:
                with open(os.path.join(root, name, "max_energy_range_uj")) as f:
                    wrap = int(f.read().strip())
            except (OSError, ValueError):
                wrap = 0
            if os.access(path, os.R_OK):
                zones.append((path, wrap))
        return zones

    def _read(self) -> list[int] | None:
        if not self.zones:
            return None
        try:
            values = []
            for path, _ in self.zones:
                with open(path) as f:
                    values.append(int(f.read().strip()))
            return values
        except (OSError, ValueError):
            return None

    def per_call(self, calls: int) -> dict | None:
        if calls <= 0:
            return None
        if self.total_uj is not None:
            return {"joules_per_call": self.total_uj / 1e6 / calls, "source": "rapl",
                    "estimated": False}
        return {"joules_per_call": self.cpu_seconds * self.watts / calls,
                "source": "cpu-time estimate",
                "estimated": True, "watts_per_core": self.watts}


_TIMERAW_SCRIPT = """
import sys, timeit
stmt, setup, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(repr(timeit.Timer(stmt, setup).timeit(number)))
"""


def measure_timeraw(inst: _Instance, cfg: _spec.RunConfig) -> tuple[list[float], int, dict]:
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
            raise BenchmarkFailed(f"timeraw subprocess failed: {_last_line(proc.stderr)}")
        samples.append(float(proc.stdout.strip().splitlines()[-1]) / number)
    return samples, number, {}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def deep_size(obj) -> int:
    """Bytes reachable from ``obj``, counting each object once.

    Modules, classes and functions are shared program structure, not data the benchmark
    built, so the walk stops at them (as asv's pympler-based mem_ does).
    """
    seen: set[int] = set()
    total = 0
    stack = [obj]
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
            types.CodeType, types.FrameType)
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, skip):
            continue
        seen.add(id(item))
        size = sys.getsizeof(item)
        if type(item).__name__ == "ndarray":  # a view or unpickled array: count its data
            size = max(size, int(getattr(item, "nbytes", 0)))
        total += size
        stack.extend(gc.get_referents(item))
    return total


def _max_rss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def _track_value(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise BenchmarkFailed(
                f"{name} returned {value!r:.80}, not a number") from None
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise BenchmarkFailed(f"{name} returned {value}, not a finite number")
    return value


def _measure(inst: _Instance, spec: _spec.RunSpec,
             index: int) -> tuple[list[float], int | None, dict]:
    cfg = dict(spec.get("config", {}))
    known = cfg.pop("numbers", {}).get(str(index))
    if known and not cfg.get("number"):
        cfg["number"] = known
    if inst.kind == "time":
        return measure_time(inst, cfg)
    if inst.kind == "timeraw":
        return measure_timeraw(inst, cfg)
    if inst.kind == "mem":
        return [float(deep_size(inst.call()))], None, {}
    if inst.kind == "track":
        return [_track_value(inst.call(), spec["name"])], None, {}
    if inst.kind == "peakmem":
        return [float(_peakmem_subprocess(spec, index))], None, {}
    raise BenchmarkFailed(f"unknown benchmark kind {inst.kind!r}")


def _peakmem_subprocess(spec: _spec.RunSpec, index: int) -> int:
    """peakmem_ needs a process that has run nothing else, so it gets its own."""
    child = dict(spec, param_indices=[index])
    path = spec["events_file"] + f".peakmem{index}.json"
    with open(path, "w") as f:
        json.dump(child, f)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "peakmem", path],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-TAIL_CHARS:])
        raise BenchmarkFailed(f"peakmem process failed: {_last_line(proc.stderr)}")
    return int(proc.stdout.strip().splitlines()[-1])


def peakmem(spec: _spec.RunSpec) -> None:
    index = spec["param_indices"][0]
    inst = _Instance(spec["benchmark_dir"], spec["name"], index, spec.get("cache_file"))
    inst.do_setup()
    inst.call()
    print(_max_rss_bytes())


# ---------------------------------------------------------------------------------------
# Running one round


class _Events:
    """The pipe to the parent: one flushed JSON line per event."""

    def __init__(self, path: str):
        self._f = open(path, "a", buffering=1)

    def send(self, **event) -> None:
        self._f.write(json.dumps(event) + "\n")
        self._f.flush()


def run(spec: _spec.RunSpec) -> None:
    events = _Events(spec["events_file"])
    for index in spec["param_indices"]:
        events.send(event="start", index=index, time=time.time())
        events.send(event="result", index=index, **_run_one(spec, index))


def _run_one(spec: _spec.RunSpec, index: int) -> dict:
    started = time.time()
    inst = None
    try:
        inst = _Instance(spec["benchmark_dir"], spec["name"], index, spec.get("cache_file"))
        inst.do_setup()
        try:
            samples, number, extra = _measure(inst, spec, index)
        finally:
            inst.do_teardown()
        return {"status": "ok", "samples": samples, "number": number, "extra": extra,
                "started_at": started, "duration": time.time() - started}
    except Skipped as exc:
        return {"status": "skipped", "reason": str(exc)}
    except BenchmarkFailed as exc:
        return {"status": "failed", "reason": str(exc)}
    except SystemExit as exc:
        traceback.print_exc()
        return {"status": "failed", "reason": f"benchmark called sys.exit({exc.code!r})"}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any error in user code is a failed result
        traceback.print_exc()
        return {"status": "failed", "reason": f"raised {_one_line(exc)}"}


def setup_cache(spec: _spec.SetupCacheSpec) -> None:
    """Run one setup_cache and pickle its value for every benchmark that shares it."""
    benchmark_dir = spec["benchmark_dir"]
    func, cls, module = _resolve(benchmark_dir, spec["name"])
    fn = _lookup("setup_cache", None, cls, module)
    owner = cls() if cls is not None else None
    fn = _bound(fn, owner)
    try:
        value = fn()
    except NotImplementedError as exc:
        _write_json(spec["out_file"] + ".status", {"status": "skipped", "reason": str(exc)})
        return
    with open(spec["out_file"], "wb") as f:
        pickle.dump(value, f)
    _write_json(spec["out_file"] + ".status", {"status": "ok"})


def _write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"discover", "run", "setup_cache", "peakmem"}:
        sys.stderr.write("usage: worker.py discover|run|setup_cache|peakmem SPEC.json\n")
        return 64
    mode, spec_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    if mode == "discover":
        _write_json(spec["out_file"], discover(spec))
    elif mode == "run":
        run(spec)
    elif mode == "setup_cache":
        setup_cache(spec)
    else:
        peakmem(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
