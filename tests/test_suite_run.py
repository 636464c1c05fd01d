"""The measurement core end to end: discovery and real worker processes on real suites."""

from __future__ import annotations

import ast
import os
import shutil
import sys
from pathlib import Path

import pytest
from source_keys import keys_read

from histbench.measure import WORKER_FILES, WORKER_SCRIPT, worker_spec
from histbench.run.rounds import ProcessEnv, QuietLevel, Settings, run_suite
from histbench.run.suite import BenchmarkSpec, discover

SUITES = Path(__file__).parent / "suites"
# Every sample counted (no disturbance rejection, which takes extra samples during a burst
# of machine load): these tests check discovery and the mechanics of rounds and samples,
# whose counts must then be exact.
FAST = Settings(warmup_time=0.0, sample_time=0.001, reject_disturbed=False)


@pytest.fixture(scope="module")
def full_results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("work")
    suite = discover(sys.executable, SUITES / "full")
    penv = ProcessEnv(python=sys.executable, benchmark_dir=SUITES / "full", workdir=workdir)
    results = run_suite(penv, suite.benchmarks, FAST)
    return suite, {(r.name, tuple(r.params.values())): r for r in results}


@pytest.fixture(scope="module")
def broken_results(tmp_path_factory):
    suite = discover(sys.executable, SUITES / "broken")
    penv = ProcessEnv(python=sys.executable, benchmark_dir=SUITES / "broken",
                      workdir=tmp_path_factory.mktemp("work"))
    results = run_suite(penv, suite.benchmarks, Settings(rounds=1, repeat=2, warmup_time=0.0))
    return suite, {(r.name, tuple(r.params.values())): r for r in results}


def test_discovery_finds_every_kind_and_nested_modules(full_results):
    suite, _ = full_results
    names = {b.name for b in suite.benchmarks}
    assert {"bench_features.time_function", "bench_features.timeraw_import_json",
            "bench_features.mem_list", "bench_features.peakmem_big_alloc",
            "bench_features.track_accuracy", "bench_features.Sorting.time_sorted",
            "nested.bench_inner.time_nested"} <= names
    assert suite.errors == []


def test_attributes_follow_function_class_module_lookup(full_results):
    suite, _ = full_results
    by_name = {b.name: b for b in suite.benchmarks}
    assert by_name["bench_features.time_function"].pretty_name == "Sum of 200 ints"
    assert by_name["bench_features.time_function"].rounds == 2  # from the module
    cached = by_name["bench_features.Cached.time_use_cache"]
    assert (cached.rounds, cached.version, cached.timeout) == (1, "v7", 30)
    sorting = by_name["bench_features.Sorting.time_sorted"]
    assert sorting.param_names == ["size", "container"]
    assert sorting.params == [["10", "1000"], ["'list'", "'tuple'"]]
    assert (sorting.number, sorting.repeat) == (5, 4)
    track = by_name["bench_features.track_accuracy"]
    assert (track.unit, track.higher_is_better) == ("fraction", True)
    assert by_name["bench_features.mem_list"].unit == "bytes"


def test_version_defaults_to_source_hash_and_changes_with_the_code(tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "b.py").write_text("def time_x():\n    pass\n")
    before = discover(sys.executable, bench_dir).benchmarks[0].version
    (bench_dir / "b.py").write_text("def time_x():\n    return 1\n")
    after = discover(sys.executable, bench_dir).benchmarks[0].version
    assert len(before) == 64 and before != after


def test_parameter_product_gives_one_result_each(full_results):
    _, results = full_results
    combos = [k[1] for k in results if k[0] == "bench_features.Sorting.time_sorted"]
    assert sorted(combos) == sorted([("10", "'list'"), ("10", "'tuple'"),
                                     ("1000", "'list'"), ("1000", "'tuple'")])
    big = results[("bench_features.Sorting.time_sorted", ("1000", "'list'"))]
    small = results[("bench_features.Sorting.time_sorted", ("10", "'list'"))]
    # Each set got its own parameters: sorting 1000 items costs ~12x sorting 10 (measured
    # here). Safe on a loaded machine: all four sets run back to back in each round's
    # process, a few ms in all, so a burst (lasting seconds) slows both sides alike; the
    # small side's median moves 2.4x only if 4 of its 8 ~2 us samples are preempted
    # (p ~ C(8,4) (2 us / 1 ms slice)^4 ~ 1e-9).
    assert big.stats.median > 5 * small.stats.median
    assert big.number == 5  # the suite's fixed number wins over calibration


def test_samples_are_kept_per_process(full_results):
    _, results = full_results
    r = results[("bench_features.Sorting.time_sorted", ("10", "'list'"))]
    assert len(r.process_samples) == 2 and all(len(g) == 4 for g in r.process_samples)
    assert r.stats.n == 8 and r.stats.n_groups == 2
    calibrated = results[("bench_features.time_function", ())]
    assert calibrated.number >= 1 and len(calibrated.process_samples) == 2


def test_setup_not_implemented_skips(full_results):
    _, results = full_results
    skipped = results[("bench_features.OnlyBig.time_range", ("1",))]
    assert skipped.status == "skipped" and "too small to matter" in skipped.reason
    assert results[("bench_features.OnlyBig.time_range", ("100",))].status == "ok"


def test_setup_cache_runs_once_and_feeds_benchmarks(full_results):
    _, results = full_results
    assert results[("bench_features.Cached.track_cache_len", ())].samples == [100.0]
    assert results[("bench_features.Cached.time_use_cache", ())].status == "ok"


def test_setup_cache_shared_by_two_benchmarks_runs_once(tmp_path):
    suite = discover(sys.executable, SUITES / "full").select(["Cached"])
    calls = tmp_path / "calls"
    penv = ProcessEnv(python=sys.executable, benchmark_dir=SUITES / "full",
                      env=dict(os.environ, HISTBENCH_TEST_CALLS=str(calls)))
    results = run_suite(penv, suite.benchmarks, Settings.quick())
    assert len(results) == 2 and all(r.status == "ok" for r in results)
    assert calls.read_text() == "x"


def test_mem_peakmem_track_values(full_results):
    _, results = full_results
    mem = results[("bench_features.mem_list", ())]
    assert 8000 <= mem.samples[0] <= 9000  # 1000 pointers + list header
    peak = results[("bench_features.peakmem_big_alloc", ())]
    assert peak.samples[0] > 64 * 1024 * 1024
    assert results[("bench_features.track_accuracy", ())].samples == [0.93, 0.93]
    assert results[("bench_features.Sorting.track_size", ("1000", "'tuple'"))].samples[0] == 1000


def test_timeraw_runs_in_fresh_interpreters(full_results):
    _, results = full_results
    r = results[("bench_features.timeraw_import_json", ())]
    assert r.status == "ok" and r.stats.n >= 10
    assert 1e-6 < r.stats.median < 0.5  # a first import of json, not a cached one (~ns)


def test_every_kind_of_failure_is_recorded(broken_results):
    suite, results = broken_results
    [import_error] = suite.errors
    assert import_error.file.endswith("bench_import_error.py")
    assert "this_module_does_not_exist" in import_error.error

    def reason(name, params=()):
        r = results[(f"bench_failures.{name}", params)]
        assert r.status == "failed", name
        return r.reason

    assert reason("time_raises") == "raised ValueError: boom"
    assert "boom" in results[("bench_failures.time_raises", ())].stderr_tail
    assert reason("time_exits") == "benchmark called sys.exit(3)"
    assert reason("time_hard_exit").startswith("worker exited with status 7")
    assert reason("time_segfault") == "crashed with SIGSEGV (segmentation fault)"
    assert reason("time_hangs") == "timed out after 1 s"
    assert "not a number" in reason("track_not_a_number")
    assert results[("bench_failures.time_fine", ())].status == "ok"


def test_a_crash_in_one_parameter_set_spares_the_others(broken_results):
    _, results = broken_results
    name = "bench_failures.Partial.time_crash_on_two"
    assert results[(name, ("2",))].status == "failed"
    assert "SIGSEGV" in results[(name, ("2",))].reason
    assert results[(name, ("1",))].status == "ok"
    assert results[(name, ("3",))].status == "ok"


def test_benchmarks_do_not_import_the_working_tree(tmp_path):
    """The suite's parent folder must not be importable: it would shadow the installed
    project with the working tree and every commit would measure the same code."""
    project = tmp_path / "proj"
    (project / "benchmarks").mkdir(parents=True)
    (project / "shadowme.py").write_text("VALUE = 'working tree'\n")
    (project / "benchmarks" / "b.py").write_text(
        "def track_importable():\n"
        "    try:\n"
        "        import shadowme  # noqa: F401\n"
        "    except ImportError:\n"
        "        return 0\n"
        "    return 1\n")
    suite = discover(sys.executable, project / "benchmarks")
    penv = ProcessEnv(python=sys.executable, benchmark_dir=project / "benchmarks")
    [result] = run_suite(penv, suite.benchmarks, Settings.quick())
    assert result.samples == [0.0]


def _old_pythons() -> list[str]:
    """Interpreters older than ours on this machine (pyenv's, or pythonX.Y on PATH): old
    commits' environments may use them. None found: only the current one is tried."""
    found = {}
    for minor in range(7, sys.version_info.minor):
        name = f"python3.{minor}"
        candidates = sorted(str(p) for p in
                            (Path.home() / ".pyenv" / "versions").glob(f"3.{minor}.*/bin/python"))
        candidates.append(shutil.which(name))  # pyenv's shims need its own setup: not them
        path = next((c for c in candidates if c and "/shims/" not in c), None)
        if path:
            found[name] = path
    return sorted(found.values())


@pytest.mark.parametrize("python", [sys.executable, *_old_pythons()])
def test_worker_runs_without_histbench_installed(tmp_path, python):
    """Old commits' environments do not have histbench, and may have an older Python (3.7
    and up): run the worker's files copied alone, under each such Python found here."""
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in WORKER_FILES:
        shutil.copy(Path(__file__).parent.parent / "histbench" / "measure" / name, lone / name)
    import subprocess

    spec = tmp_path / "spec.json"
    out = tmp_path / "out.json"
    spec.write_text(f'{{"benchmark_dir": "{SUITES / "full"}", "out_file": "{out}"}}')
    subprocess.run([python, "-S", str(lone / "worker.py"), "discover", str(spec)],
                   check=True, cwd=tmp_path)
    assert '"bench_features.time_function"' in out.read_text()


def test_worker_reads_exactly_the_spec_keys_the_parent_declares():
    """The parent builds the worker's spec files from measure/worker_spec.py's TypedDicts;
    the worker, in another interpreter, reads them by key. A key on one side only would be
    read as missing, silently."""
    measure = WORKER_SCRIPT.parent
    trees = [ast.parse((measure / name).read_text()) for name in WORKER_FILES]
    tree = ast.Module(body=[node for t in trees for node in t.body], type_ignores=[])
    nodes = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    declared = set().union(*(t.__annotations__ for t in (
        worker_spec.DiscoverSpec, worker_spec.SetupCacheSpec, worker_spec.RunSpec)))
    assert keys_read(tree, "spec") == declared
    run_config = {"measure_time", "measure_timeraw", "_measure"}
    assert set().union(*(keys_read(nodes[f], "cfg") for f in run_config)) \
        == set(worker_spec.RunConfig.__annotations__)
    assert keys_read(nodes["Gauge"], "cfg") == set(worker_spec.GaugeConfig.__annotations__)
    assert keys_read(nodes["EnergyMeter"], "cfg") \
        == set(worker_spec.EnergyConfig.__annotations__)


def test_settings_send_every_run_config_key():
    """Settings.worker_config is the parent's side of RunConfig: with every override set, it
    sends each key the TypedDict declares, and no other."""
    settings = Settings(rounds=3, repeat=2, number=5, warmup_time=0.0, sample_time=0.01,
                        energy={"watts_per_core": 5.0}, disturbance_wait=1.0)
    bench = BenchmarkSpec(name="m.time_x", module="m", kind="time")
    config = settings.worker_config(bench, {0: 10}, QuietLevel(seconds=0.001))
    assert set(config) == set(worker_spec.RunConfig.__annotations__)
    assert set(config["gauge"]) == set(worker_spec.GaugeConfig.__annotations__)


def test_one_default_for_rounds():
    """Discovery reports the worker's defaults; a spec made in the parent has the same."""
    bench = BenchmarkSpec(name="m.time_x", module="m", kind="time")
    for key, value in worker_spec.DEFAULTS.items():
        assert getattr(bench, key) == value, key
    assert bench.rounds == 4  # README: "default 4; asv uses 2"
