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
  count SPEC     -> instruction mode's differential method: one process under valgrind
                    running one time_ benchmark's fixture and calls (instructions.py)

The work itself lives in the modules beside this file (all standard library only), which
it loads by path: discovery, instance, timing (with gauge and energy), instructions (time_
benchmarks counted under Valgrind), memory, failures.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
import time
import traceback
import types

# Run by path, this file's folder is sys.path[0]; drop it so histbench's own module names
# can never shadow the benchmarks' imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

# This folder's modules are registered under this package name: never a suite's own
# (the suite is imported as suite_import.PACKAGE_ALIAS), never histbench's.
_PACKAGE = "_histbench_measure"


def _load_beside(stem: str) -> types.ModuleType:
    """A module beside this file, by path: the worker cannot import histbench.

    The folder becomes a package of its own name, so the modules in it import one another
    relatively, the same way whether histbench is installed or not."""
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[_PACKAGE] = package
    return importlib.import_module(_PACKAGE + "." + stem)


_spec = _load_beside("worker_spec")  # the spec files' keys
_failures = _load_beside("failures")
_instance = _load_beside("instance")
_discovery = _load_beside("discovery")
_timing = _load_beside("timing")
_memory = _load_beside("memory")
_instructions = _load_beside("instructions")
_lookup = _load_beside("suite_import").lookup
Skipped, BenchmarkFailed = _failures.Skipped, _failures.BenchmarkFailed
BenchmarkInstance = _instance.BenchmarkInstance


def _instance_for(spec: _spec.RunSpec, index: int) -> BenchmarkInstance:
    return BenchmarkInstance(spec["benchmark_dir"], spec["name"], index, spec.get("cache_file"))


def _measure(inst: BenchmarkInstance, spec: _spec.RunSpec,
             index: int) -> tuple[list[float], int | None, dict]:
    cfg = dict(spec.get("config", {}))
    known = cfg.pop("numbers", {}).get(str(index))
    icfg = spec.get("instructions")
    if icfg and inst.kind == "time":  # counted under Valgrind: calibrated counts unused
        return _instructions.measure_instructions(inst, cfg, icfg, spec, index)
    if inst.kind == "time":  # a known count is not an explicit number (setup hooks: 1)
        return _timing.measure_time(inst, cfg, known)
    if known and not cfg.get("number"):
        cfg["number"] = known
    if inst.kind == "timeraw":
        return _timing.measure_timeraw(inst, cfg)
    if inst.kind == "mem":
        return [float(_memory.deep_size(inst.call()))], None, {}
    if inst.kind == "track":
        return [_track_value(inst.call(), spec["name"])], None, {}
    if inst.kind == "peakmem":
        return [float(_peakmem_subprocess(spec, index))], None, {}
    raise BenchmarkFailed(f"unknown benchmark kind {inst.kind!r}")


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


def _peakmem_subprocess(spec: _spec.RunSpec, index: int) -> int:
    """peakmem_ needs a process that has run nothing else, so it gets its own."""
    child = dict(spec, param_indices=[index])
    path = spec["events_file"] + f".peakmem{index}.json"
    with open(path, "w") as f:
        json.dump(child, f)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "peakmem", path],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-_failures.TAIL_CHARS:])
        raise BenchmarkFailed(f"peakmem process failed: {_failures.last_line(proc.stderr)}")
    return int(proc.stdout.strip().splitlines()[-1])


def peakmem(spec: _spec.RunSpec) -> None:
    index = spec["param_indices"][0]
    inst = _instance_for(spec, index)
    inst.do_setup()
    inst.call()
    print(_memory.max_rss_bytes())


def count(spec: _spec.RunSpec) -> None:
    """A count process of the differential method: runs under valgrind, which counts it
    whole; the parent worker reads the dump (instructions.py)."""
    index = spec["param_indices"][0]
    inst = _instance_for(spec, index)
    inst.do_setup()
    try:
        _instructions.count(inst, spec["config"], spec["instructions"] or {})
    finally:
        _instance.back_to_start_folder()
        inst.do_teardown()


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
    _instance.back_to_start_folder()  # whatever the parameter set before did
    try:
        inst = _instance_for(spec, index)
        inst.do_setup()
        try:
            samples, number, extra = _measure(inst, spec, index)
        finally:
            _instance.back_to_start_folder()
            inst.do_teardown()
            _instance.back_to_start_folder()
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
        return {"status": "failed", "reason": f"raised {_failures.one_line(exc)}"}


def setup_cache(spec: _spec.SetupCacheSpec) -> None:
    """Run one setup_cache and pickle its value for every benchmark that shares it."""
    benchmark_dir = spec["benchmark_dir"]
    func, cls, module = _instance.resolve(benchmark_dir, spec["name"])
    fn = _lookup("setup_cache", None, cls, module)
    owner = cls() if cls is not None else None
    fn = _instance.bound(fn, owner)
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
    if len(argv) != 2 or argv[0] not in {"discover", "run", "setup_cache", "peakmem", "count"}:
        sys.stderr.write("usage: worker.py discover|run|setup_cache|peakmem|count SPEC.json\n")
        return 64
    mode, spec_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    if mode == "discover":
        _write_json(spec["out_file"], _discovery.discover(spec))
    elif mode == "run":
        run(spec)
    elif mode == "setup_cache":
        setup_cache(spec)
    elif mode == "count":
        count(spec)
    else:
        peakmem(spec)
    return 0


if __name__ == "__main__":
    _load_beside("lifeline").keep_tree()  # before any benchmark code can hang or spawn
    sys.exit(main(sys.argv[1:]))
