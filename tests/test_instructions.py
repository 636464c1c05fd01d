"""Instruction counts under Valgrind (issue 13): real callgrind, real worker processes.

Each Valgrind start costs seconds, so the suite below packs what it checks into parameter
sets of one benchmark (one worker process runs them all): a plain loop, a loop of twice the
iterations, and the plain loop behind a setup that does ten times its work.
"""

from __future__ import annotations

import ast
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from source_keys import keys_read

from histbench.core.errors import HistbenchError
from histbench.core.modes import count_series_name as series_name
from histbench.measure import WORKER_FILES, WORKER_SCRIPT, instructions, worker_spec
from histbench.run import valgrind
from histbench.run.rounds import ProcessEnv, Settings, run_suite
from histbench.run.suite import BenchmarkSpec, discover
from histbench.store.results import BenchmarkResult
from histbench.store.statuses import Status

pytestmark = pytest.mark.skipif(not shutil.which("valgrind") or not shutil.which("cc"),
                                reason="needs valgrind and cc (apt-get install valgrind)")

NAME = "bench_counted.Counted.time_xor"
SUITE = '''
DATA = list(range(256)) * 100  # small ints only: the loop allocates nothing
DATA2 = DATA * 2


def _xor(data):
    s = 0
    for x in data:
        s ^= x
    return s


class Counted:
    params = ["plain", "double", "heavy_setup"]

    def setup(self, kind):
        if kind == "heavy_setup":
            for _ in range(10):
                _xor(DATA)

    def time_xor(self, kind):
        _xor(DATA2 if kind == "double" else DATA)


def track_other():
    return 1.0
'''


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("suite")
    (folder / "bench_counted.py").write_text(textwrap.dedent(SUITE))
    return folder


@pytest.fixture(scope="module")
def shim_cache(tmp_path_factory):
    """Compiled shims go to a temporary cache, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        mp.delenv(valgrind.METHOD_ENV, raising=False)
        yield mp


def _run(suite_dir: Path, workdir: Path, settings: Settings, selected=None):
    suite = discover(sys.executable, suite_dir)
    benches = [b for b in suite.benchmarks if b.name == NAME]
    for bench in benches:
        bench.selected = selected
    penv = ProcessEnv(python=sys.executable, benchmark_dir=suite_dir, workdir=workdir)
    return {(r.name, next(iter(r.params.values()))): r
            for r in run_suite(penv, benches, settings)}


@pytest.fixture(scope="module")
def shim_results(suite_dir, shim_cache, tmp_path_factory):
    """Two rounds (two worker processes under valgrind), three parameter sets each."""
    return _run(suite_dir, tmp_path_factory.mktemp("work"),
                Settings(measure="instructions", rounds=2))


def test_both_series_with_their_units_and_the_valgrind_record(shim_results):
    assert {name for name, _ in shim_results} == {series_name(NAME, "instructions"),
                                                  series_name(NAME, "cycles")}
    for kind in ("instructions", "cycles"):
        for param in ("plain", "double", "heavy_setup"):
            result = shim_results[(f"{NAME}@{kind}", f"'{param}'")]
            assert result.status == Status.OK, result.reason
            assert (result.kind, result.unit, result.higher_is_better) == (kind, kind, False)
            assert [len(g) for g in result.process_samples] == [3, 3]  # 2 rounds x 3 samples
            assert result.number == 1 and result.stats is not None
            assert result.disturbance is None and not result.process_references
            record = result.extra["valgrind"]
            assert record["version"].startswith("valgrind-") and record["method"] == "shim"
            assert "--LL=8388608,16,64" in record["args"] and "--instr-atstart=no" in \
                record["args"]
            assert record["env"] == {"PYTHONHASHSEED": "0"}
            assert BenchmarkResult.from_dict(result.to_dict()).samples == result.samples
    cycles = shim_results[(f"{NAME}@cycles", "'plain'")]
    assert set(cycles.extra["events"]) >= {"Ir", "I1mr", "D1mr", "DLmr"}
    instr = shim_results[(f"{NAME}@instructions", "'plain'")]
    assert cycles.extra["events"]["Ir"] == instr.process_samples
    assert all(c >= i for c, i in zip(cycles.samples, instr.samples, strict=True))


def test_counts_agree_across_processes(shim_results):
    for kind in ("instructions", "cycles"):
        first, second = shim_results[(f"{NAME}@{kind}", "'plain'")].process_samples
        assert abs(_median(first) - _median(second)) <= 1e-4 * _median(first)


def test_setup_work_is_not_counted_and_twice_the_loop_counts_twice(shim_results):
    def count(param):
        return _median(shim_results[(f"{NAME}@instructions", f"'{param}'")].samples)

    plain = count("plain")
    assert plain > 1e6  # the loop itself: 25,600 iterations
    assert abs(count("heavy_setup") - plain) <= 1e-4 * plain  # 10x the work, not counted
    assert count("double") / plain == pytest.approx(2.0, rel=0.01)


def test_the_version_folds_in_the_settings(shim_results, shim_cache):
    instr = shim_results[(f"{NAME}@instructions", "'plain'")]
    cycles = shim_results[(f"{NAME}@cycles", "'plain'")]
    record = instr.extra["valgrind"]
    assert instr.version != cycles.version
    assert valgrind.series_version("v1", record, "instructions") \
        == valgrind.series_version("v1", dict(record), "instructions")
    other_cache = dict(record, args=[a.replace("--LL=8388608,16,64", "--LL=4194304,16,64")
                                     for a in record["args"]])
    other_tool = dict(record, version="valgrind-3.22.0")
    other_method = dict(record, method="differential")
    for changed in (other_cache, other_tool, other_method):
        for series in ("instructions", "cycles"):
            assert valgrind.series_version("v1", changed, series) \
                != valgrind.series_version("v1", record, series)
    other_weights = dict(record, cycles="Ir + 5 * L1m")  # only the cycles series changes
    assert valgrind.series_version("v1", other_weights, "instructions") \
        == valgrind.series_version("v1", record, "instructions")
    assert valgrind.series_version("v1", other_weights, "cycles") \
        != valgrind.series_version("v1", record, "cycles")
    assert valgrind.series_version("v2", record, "cycles") \
        != valgrind.series_version("v1", record, "cycles")


def test_the_shim_is_compiled_once_into_the_cache(shim_cache):
    first = valgrind.prepare()
    assert first.method == valgrind.SHIM and first.shim
    assert Path(first.shim).parent == valgrind.cache_dir() and Path(first.shim).exists()
    valgrind._prepare.cache_clear()  # a new run finds the compiled shim on disk
    again = valgrind.prepare()
    assert again.shim == first.shim


def test_differential_fallback_agrees_with_the_shim(suite_dir, shim_results, shim_cache,
                                                    tmp_path):
    shim_cache.setenv(valgrind.METHOD_ENV, valgrind.DIFFERENTIAL)  # as if cc were missing
    try:
        found = _run(suite_dir, tmp_path, Settings(measure="instructions", repeat=1),
                     selected=[0])
    finally:
        shim_cache.delenv(valgrind.METHOD_ENV)
    instr = found[(f"{NAME}@instructions", "'plain'")]
    assert instr.status == Status.OK, instr.reason
    record = instr.extra["valgrind"]
    assert record["method"] == "differential" and "--instr-atstart=yes" in record["args"]
    shim = shim_results[(f"{NAME}@instructions", "'plain'")]
    assert instr.samples[0] == pytest.approx(_median(shim.samples), rel=0.01)
    assert instr.version != shim.version  # never compared with the shim's counts
    assert found[(f"{NAME}@cycles", "'plain'")].samples[0] > 0


def test_missing_valgrind_or_setarch_is_a_one_line_error(tmp_path, monkeypatch, suite_dir):
    empty = tmp_path / "bin"
    empty.mkdir()
    real = shutil.which("valgrind")
    monkeypatch.setenv("PATH", str(empty))
    bench = BenchmarkSpec(name=NAME, module="bench_counted", kind="time",
                          params=[["'plain'"]], param_names=["kind"])
    penv = ProcessEnv(python=sys.executable, benchmark_dir=suite_dir, workdir=tmp_path)
    with pytest.raises(HistbenchError) as err:
        run_suite(penv, [bench], Settings(measure="instructions"))
    assert "apt-get install valgrind" in str(err.value) and "\n" not in str(err.value)
    (empty / "valgrind").symlink_to(real)
    with pytest.raises(HistbenchError, match="apt-get install util-linux"):
        valgrind.prepare()


def test_instruction_mode_defaults_to_one_round():
    bench = BenchmarkSpec(name="m.time_x", module="m", kind="time")
    counted = Settings(measure="instructions")
    assert counted.rounds_for(bench) == 1
    assert Settings().rounds_for(bench) == worker_spec.DEFAULTS["rounds"]
    assert Settings(measure="instructions", rounds=3).rounds_for(bench) == 3
    bench.rounds = 2  # the suite's own
    assert counted.rounds_for(bench) == 2
    track = BenchmarkSpec(name="m.track_x", module="m", kind="track")
    assert counted.rounds_for(track) == worker_spec.DEFAULTS["rounds"]  # still measured


def test_dump_parsing_and_cycle_estimate(tmp_path):
    dump = tmp_path / "cg.1.1"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\npid: 1\n"
                    "desc: Trigger: Client Request: histbench-1\n"
                    "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 0\n"
                    "fn=(1) f\n3 5\ntotals: 1000 10 10 2 3 4 1\n")
    trigger, events = instructions.read_dump(str(dump))
    assert trigger == "Client Request: histbench-1"
    assert events == {"Ir": 1000, "Dr": 10, "Dw": 10, "I1mr": 2, "D1mr": 3, "D1mw": 4,
                      "ILmr": 1, "DLmr": 0, "DLmw": 0}
    assert instructions.estimated_cycles(events) == 1000 + 10 * 9 + 100 * 1


def test_the_instructions_config_keys_match_on_both_sides(tmp_path):
    """The parent's InstructionsConfig (run/valgrind.py) against what the worker reads."""
    assert "instructions.py" in WORKER_FILES
    source = (WORKER_SCRIPT.parent / "instructions.py").read_text()
    declared = set(worker_spec.InstructionsConfig.__annotations__)
    assert keys_read(ast.parse(source), "icfg") == declared
    tool = valgrind.Valgrind(valgrind="valgrind", setarch="setarch", version="valgrind-x",
                             method=valgrind.SHIM, shim="shim.so", args=("--tool=callgrind",))
    assert set(tool.worker_config(tmp_path)) == declared
