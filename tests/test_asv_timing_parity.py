"""time_ benchmarks time the same work under histbench as under asv_runner.

One probe suite runs under both: asv_runner's own per-benchmark entry point
(``asv_runner.run._run``, what asv's ``benchmark.py run`` calls, one process per parameter
set) and ``histbench dev --json``. Every hook appends a line to a log file of its process:
``setup``, ``call`` (saying whether the fixture was fresh), ``teardown``, and ``tick`` for
every read of the benchmark's timer (a ``timer`` attribute both honour), so two ticks
bracket each timed window. The logs are then compared:

* with fixed settings (explicit ``number``, int ``repeat``, ``warmup_time = 0``) the
  sequences must be identical, line for line;
* otherwise (calibrated number, warm-up, a (min, max, seconds) repeat, histbench's gauge
  sampling through disturbance) the counts may differ, and the invariants must hold: with
  setup hooks every timed call finds a fresh fixture (one call per setup), no setup or
  teardown runs inside a timed window, and the reported ``number`` is the same.

No timing thresholds: only which work runs, in which order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("asv_runner")

ROOT = Path(__file__).resolve().parents[1]

PROBE_COMMON = '''
import os
import time


def log(*words):
    folder = os.environ["PROBE_LOG"]
    with open(os.path.join(folder, "%d.log" % os.getpid()), "a") as f:
        f.write(" ".join(str(w) for w in words) + "\\n")


def make_timer(name):
    def timer():
        log(name, "tick")
        return time.perf_counter()
    return timer
'''

PROBE = PROBE_COMMON + '''

class Fixture:
    """A fixture the timed call uses up, as networkx's time_remove_nodes_from does."""
    name = "?"

    def setup(self, *args):
        self.items = list(range(20))
        log(self.name, "setup", *args)

    def teardown(self, *args):
        log(self.name, "teardown", *args)

    def use(self, *args):
        log(self.name, "call", "fresh" if len(self.items) == 20 else "used", *args)
        self.items.clear()


class Once(Fixture):
    name = "Once"
    timer = staticmethod(make_timer(name))
    number = 1
    repeat = 4
    warmup_time = 0

    def time_once(self):
        self.use()


class Mutating(Fixture):
    """Automatic number (must be 1) and the default warm-up."""
    name = "Mutating"
    timer = staticmethod(make_timer(name))
    repeat = 3

    def time_remove(self):
        self.use()


class Interleaved(Fixture):
    """An explicit number > 1 with setup: setup before every call, calls timed singly."""
    name = "Interleaved"
    timer = staticmethod(make_timer(name))
    number = 3
    repeat = (2, 4, 1.0)
    warmup_time = 0

    def time_pop(self):
        self.use()


class InterleavedWarm(Fixture):
    name = "InterleavedWarm"
    timer = staticmethod(make_timer(name))
    number = 2
    repeat = 2
    warmup_time = 0.02

    def time_pop(self):
        self.use()


class Params(Fixture):
    name = "Params"
    timer = staticmethod(make_timer(name))
    params = [1, 2]
    param_names = ["n"]
    repeat = 3
    warmup_time = 0

    def time_param(self, n):
        self.use(n)


class SetsNumber(Fixture):
    """Setup may set timing attributes; asv reads them after it."""
    name = "SetsNumber"
    timer = staticmethod(make_timer(name))
    repeat = 2
    warmup_time = 0

    def setup(self):
        Fixture.setup(self)
        self.number = 2

    def time_set(self):
        self.use()


class TeardownOnly:
    """No setup: calls batched; asv still runs teardown between samples."""
    timer = staticmethod(make_timer("TeardownOnly"))
    number = 2
    repeat = 3
    warmup_time = 0

    def teardown(self):
        log("TeardownOnly", "teardown")

    def time_plain(self):
        log("TeardownOnly", "call", "fresh")
'''

PROBE_PLAIN = PROBE_COMMON + '''

def time_plain():
    log("plain", "call", "fresh")


time_plain.timer = make_timer("plain")
time_plain.number = 4
time_plain.repeat = 3
time_plain.warmup_time = 0


def time_calibrated():
    log("calibrated", "call", "fresh")


time_calibrated.timer = make_timer("calibrated")
time_calibrated.sample_time = 0.002
time_calibrated.warmup_time = 0
time_calibrated.repeat = 2
'''

PROBE_LAYERS = PROBE_COMMON + '''

def setup():
    log("Layered", "module-setup")


def teardown():
    log("Layered", "module-teardown")


class Layered:
    """asv runs every setup hook found (module first) and every teardown (module last)."""
    timer = staticmethod(make_timer("Layered"))
    number = 2
    repeat = 2
    warmup_time = 0

    def setup(self):
        self.items = [1]
        log("Layered", "setup")

    def teardown(self):
        log("Layered", "teardown")

    def time_layers(self):
        log("Layered", "call", "fresh" if self.items else "used")
        self.items = []
'''

# Benchmark -> parameter sets (None: not parameterised).
BENCHMARKS = {
    "probe.Once.time_once": None,
    "probe.Mutating.time_remove": None,
    "probe.Interleaved.time_pop": None,
    "probe.InterleavedWarm.time_pop": None,
    "probe.Params.time_param": [0, 1],
    "probe.SetsNumber.time_set": None,
    "probe.TeardownOnly.time_plain": None,
    "probe_plain.time_plain": None,
    "probe_plain.time_calibrated": None,
    "probe_layers.Layered.time_layers": None,
}
# Fixed settings: identical sequences, line for line.
EXACT = {"probe.Once.time_once", "probe.Params.time_param", "probe.SetsNumber.time_set",
         "probe.TeardownOnly.time_plain", "probe_plain.time_plain",
         "probe_layers.Layered.time_layers"}
CALIBRATED = ("calibrated", 0)  # its number depends on the machine's speed: only > 1


def _suite(root: Path) -> Path:
    bench = root / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "__init__.py").write_text("")
    (bench / "probe.py").write_text(PROBE)
    (bench / "probe_plain.py").write_text(PROBE_PLAIN)
    (bench / "probe_layers.py").write_text(PROBE_LAYERS)
    (root / "histbench.json").write_text(json.dumps(
        {"project": "probe", "benchmark_dir": str(bench)}))
    return bench


def _logs(folder: Path) -> list[list[list[str]]]:
    """Every process's log, oldest first: a list of lines, each a list of words."""
    files = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime_ns)
    return [[line.split() for line in f.read_text().splitlines()] for f in files]


def _by_benchmark(logs: list[list[list[str]]]) -> dict[tuple[str, int], list[list[str]]]:
    """Lines per (benchmark label, parameter set), ticks included. A process may run
    several parameter sets one after the other (histbench does): the argument that
    Params' hooks log tells them apart, and a tick belongs to the set before it."""
    out: dict[tuple[str, int], list[list[str]]] = {}
    for lines in logs:
        index = 0
        for words in lines:
            label, event = words[0], words[1]
            if label == "Params" and event != "tick":
                index = int(words[-1]) - 1  # params = [1, 2]
            out.setdefault((label, index), []).append(words)
    return out


def _label(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) == 3 else parts[1][len("time_"):]


def run_asv(bench_dir: Path, tmp: Path) -> tuple[dict, dict]:
    """Each benchmark and parameter set in its own process, as asv runs them."""
    log_dir, results = tmp / "asv-logs", {}
    log_dir.mkdir()
    env = dict(os.environ, PROBE_LOG=str(log_dir))
    for name, indices in BENCHMARKS.items():
        for index in indices or [None]:
            bench_id = name if index is None else f"{name}-{index}"
            result_file = tmp / f"asv-{bench_id}.json"
            code = "import sys; from asv_runner.run import _run; _run(tuple(sys.argv[1:]))"
            subprocess.run([sys.executable, "-c", code, str(bench_dir), bench_id, "{}", "None",
                            str(result_file)], cwd=tmp, env=env, check=True,
                           capture_output=True, text=True, timeout=120)
            results[(_label(name), index or 0)] = json.loads(result_file.read_text())
    return _by_benchmark(_logs(log_dir)), results


def run_histbench(project: Path, tmp: Path, *extra: str) -> tuple[dict, dict]:
    log_dir = tmp / ("hb-logs" + "".join(extra))
    log_dir.mkdir()
    env = dict(os.environ, PROBE_LOG=str(log_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "histbench", "dev", "--json", "--rounds", "1",
                           *extra], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {}
    for r in json.loads(proc.stdout)["results"]:
        assert r["status"] == "ok", r
        samples = [v for g in (r.get("measured_samples") or r["process_samples"]) for v in g]
        results[(_label(r["name"]), r["param_index"])] = {"samples": samples,
                                                         "number": r["number"]}
    return _by_benchmark(_logs(log_dir)), results


def windows(lines: list[list[str]]) -> list[list[list[str]]]:
    """The lines inside each timed window (between two ticks)."""
    out, inside = [], None
    for words in lines:
        if words[1] == "tick":
            if inside is None:
                inside = []
            else:
                out.append(inside)
                inside = None
        elif inside is not None:
            inside.append(words)
    assert inside is None, "a timed window never closed"
    return out


def check_invariants(key, lines: list[list[str]], result: dict) -> None:
    """What must hold however many samples were taken."""
    events = [w[1] for w in lines]
    calls = [w for w in lines if w[1] == "call"]
    assert calls and all(w[2] == "fresh" for w in calls), (key, "a call found a used fixture")
    timed = windows(lines)
    for window in timed:  # setup and teardown are never timed
        assert window and all(w[1] == "call" for w in window), (key, window)
    samples, number = len(result["samples"]), result["number"]
    has_setup = "setup" in events
    if has_setup:
        # one call per setup: each setup (the module's and the class's count as one)
        # precedes exactly one call before the next teardown
        setups = [i for i, e in enumerate(events) if e == "setup"]
        bounds = setups[1:] + [len(events)]
        for start, end in zip(setups, bounds):  # noqa: B905 (same length)
            assert events[start:end].count("call") == 1, (key, lines[start:end])
        assert events[0] in ("setup", "module-setup"), key
        assert events.count("setup") == events.count("teardown"), key
        assert all(len(w) == 1 for w in timed), (key, "several calls in one timed window")
        # the last samples: `number` windows each
        assert len(timed) >= samples * number, key
    else:
        # batched: each sample is one window of `number` calls (earlier windows, if any,
        # were calibration)
        assert [len(w) for w in timed[-samples:]] == [number] * samples, key
    if {"teardown", "module-teardown"} & set(events):  # the fixture is left torn down
        assert events[-1] in ("teardown", "module-teardown"), key


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    bench_dir = _suite(tmp / "project")
    return {
        "asv": run_asv(bench_dir, tmp),
        "histbench": run_histbench(tmp / "project", tmp, "--keep-disturbed"),
        "histbench-gauge": run_histbench(tmp / "project", tmp),
    }


KEYS = [(_label(name), i) for name, indices in BENCHMARKS.items() for i in (indices or [0])]


@pytest.mark.parametrize("key", KEYS, ids=[f"{k[0]}-{k[1]}" for k in KEYS])
def test_same_work_as_asv_runner(runs, key):
    asv_logs, asv_results = runs["asv"]
    for run in ("histbench", "histbench-gauge"):
        logs, results = runs[run]
        assert key in logs and key in results, (run, key, sorted(logs))
        check_invariants((run, key), logs[key], results[key])
        if key != CALIBRATED:
            assert results[key]["number"] == asv_results[key]["number"], (run, key)
    check_invariants(("asv", key), asv_logs[key], asv_results[key])
    name = next(n for n in BENCHMARKS if _label(n) == key[0])
    hb_logs, hb_results = runs["histbench"]
    if name in EXACT:
        assert hb_logs[key] == asv_logs[key]
        assert len(hb_results[key]["samples"]) == len(asv_results[key]["samples"])


def test_numbers_asv_would_choose(runs):
    """With setup hooks an automatic number is 1 (asv#966); an explicit one is kept, even
    when setup sets it; without setup hooks it is calibrated."""
    _, asv_results = runs["asv"]
    _, results = runs["histbench"]
    assert results[("Mutating", 0)]["number"] == asv_results[("Mutating", 0)]["number"] == 1
    assert results[("Interleaved", 0)]["number"] == 3
    assert results[("SetsNumber", 0)]["number"] == 2
    assert results[("calibrated", 0)]["number"] > 1
    assert asv_results[("calibrated", 0)]["number"] > 1


def test_interleaved_windows_hold_one_call(runs):
    """number = 3 with setup: three fresh fixtures and three windows per sample."""
    for run in ("asv", "histbench"):
        logs, results = runs[run]
        lines = logs[("Interleaved", 0)]
        samples = len(results[("Interleaved", 0)]["samples"])
        assert 2 <= samples <= 4
        assert len(windows(lines)) == 3 * samples
        assert [w[1] for w in lines].count("setup") == 3 * samples


def test_every_setup_hook_runs_module_first(runs):
    logs, _ = runs["histbench"]
    events = [w[1] for w in logs[("Layered", 0)] if w[1] != "tick"]
    assert events[:3] == ["module-setup", "setup", "call"]
    assert events[3:5] == ["teardown", "module-teardown"]
