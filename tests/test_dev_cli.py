"""`histbench dev` as a user runs it: a real subprocess in a project folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SUITES = Path(__file__).parent / "suites"


def histbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def project_with(tmp_path: Path, suite: str) -> Path:
    (tmp_path / "histbench.json").write_text(json.dumps(
        {"project": "demo", "benchmark_dir": str(SUITES / suite)}))
    return tmp_path


def test_dev_table_and_exit_zero(tmp_path):
    proc = histbench("dev", "--quick", "-b", "Sorting|nested", cwd=project_with(tmp_path, "full"))
    assert proc.returncode == 0, proc.stderr
    assert "median [95% CI]" in proc.stdout
    assert "bench_features.Sorting.time_sorted  size=1000, container='tuple'" in proc.stdout
    assert "nested.bench_inner.time_nested" in proc.stdout
    assert "bench_features.mem_list" not in proc.stdout


def test_dev_exit_two_and_reasons_when_benchmarks_fail(tmp_path):
    proc = histbench("dev", "--quick", "-b", "raises|segfault|fine",
                     cwd=project_with(tmp_path, "broken"))
    assert proc.returncode == 2
    assert "failed: raised ValueError: boom" in proc.stdout
    assert "failed: crashed with SIGSEGV" in proc.stdout
    assert "bench_import_error.py: ModuleNotFoundError" in proc.stderr


def test_dev_json_is_strict_and_complete(tmp_path):
    proc = histbench("dev", "--quick", "--json", "-b", "track_accuracy|OnlyBig",
                     cwd=project_with(tmp_path, "full"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_name = {(r["name"], tuple(r["params"].values())): r for r in data["results"]}
    acc = by_name[("bench_features.track_accuracy", ())]
    assert acc["higher_is_better"] is True and acc["process_samples"] == [[0.93]]
    assert by_name[("bench_features.OnlyBig.time_range", ("1",))]["status"] == "skipped"


def test_dev_without_config_uses_benchmarks_folder(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text("def track_one():\n    return 1\n")
    proc = histbench("dev", "--quick", cwd=tmp_path)
    assert proc.returncode == 0 and "b.track_one" in proc.stdout


def test_machine_command_saves_record(tmp_path):
    proc = histbench("machine", "--machine", "ci-box", "--results-dir", str(tmp_path / "r"),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "r" / "ci-box" / "machine.json").read_text())
    assert record["name"] == "ci-box" and record["cores"] >= 1


FAKE_CLOCK = """
import time

# A clock that only the benchmark moves: every call costs exactly 1 ms, setup and teardown
# 5 s each, whatever the machine is doing. The worker reads time.perf_counter. CPU time
# follows the same clock (the benchmark has its CPU all the time it runs), so that no sample
# looks disturbed by a CPU share computed from real CPU time over fake wall time.
NOW_NS = [0]
time.perf_counter = lambda: NOW_NS[0] / 1e9
time.perf_counter_ns = lambda: NOW_NS[0]
time.process_time = lambda: NOW_NS[0] / 1e9
time.process_time_ns = lambda: NOW_NS[0]


def setup():
    NOW_NS[0] += 5_000_000_000


def teardown():
    NOW_NS[0] += 5_000_000_000


def time_one_millisecond():
    NOW_NS[0] += 1_000_000
"""


def test_median_is_the_per_call_cost_exactly(tmp_path):
    """Measurement honesty: histbench's number is the cost of one call, and nothing else
    (not setup, teardown, loop counts or warmup), checked exactly on a clock that machine
    load cannot move."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text(FAKE_CLOCK)
    # The same without setup hooks: then calls are batched, `number` to a sample.
    (tmp_path / "benchmarks" / "c.py").write_text(
        FAKE_CLOCK.replace("def setup():", "def unused_setup():")
        .replace("def teardown():", "def unused_teardown():"))
    proc = histbench("dev", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = {r["name"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["b.time_one_millisecond"]["number"] == 1  # setup: fresh one a call (asv)
    assert results["c.time_one_millisecond"]["number"] > 1  # calibrated: several a sample
    for result in results.values():
        # Every sample: the ones the statistics use, and every one measured (disturbed or not).
        samples = [v for key in ("process_samples", "measured_samples")
                   for g in result.get(key) or [] for v in g]
        assert len(samples) >= 3
        assert samples == pytest.approx([1e-3] * len(samples), rel=1e-6)
        assert result["stats"]["median"] == pytest.approx(1e-3, rel=1e-6)


BUSY = """
def busy(n={n}):
    x = 0
    for i in range(n):
        x += i * i
    return x
"""


def test_median_agrees_with_direct_perf_counter_within_10x(tmp_path):
    """The same on the real clock, loosely: histbench's median for a ~0.1 ms loop (about
    100 calls a sample once calibrated) against the loop timed directly in a process of
    its own.

    Load slows a CPU-bound sample up to ~3x (the 90th percentile under bench/noise.py,
    histbench/disturbance.py), on either side, so an honest ratio lies within [1/3, 3]
    whatever the machine does; the 10x bound cannot fail from noise and still catches a
    wrong clock, unit or loop count (off by ~100x here; the exact figure is checked above).
    """
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text(
        BUSY.format(n=2_000) + "\ndef time_busy():\n    busy()\n")
    module_file = str(tmp_path / "benchmarks" / "b.py")
    direct_code = textwrap.dedent(f"""
        import importlib.util, statistics, time
        spec = importlib.util.spec_from_file_location("b", {module_file!r})
        b = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(b)
        samples = []
        for _ in range(15):
            t0 = time.perf_counter()
            for _ in range(100):
                b.time_busy()
            samples.append((time.perf_counter() - t0) / 100)
        print(statistics.median(samples))
    """)
    direct = float(subprocess.run([sys.executable, "-c", direct_code], capture_output=True,
                                  text=True, check=True).stdout)
    proc = histbench("dev", "--json", "--rounds", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)["results"]
    assert result["number"] >= 10
    assert 0.1 < result["stats"]["median"] / direct < 10, (result["stats"]["median"], direct)


@pytest.mark.parametrize("args", [["dev", "-b", "("]])
def test_bad_regex_is_one_line(tmp_path, args):
    proc = histbench(*args, cwd=project_with(tmp_path, "full"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "regex" in proc.stderr


@pytest.mark.parametrize("command", ["--help", "run --help", "dev --help"])
def test_help_starts_without_the_numeric_stack(tmp_path, command):
    """Every command module is imported to build the parser, so none may pull in numpy,
    scipy or matplotlib at import time: `histbench --help` must answer at once."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "histbench",
                           *command.split()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"numpy", "scipy", "matplotlib"}


WANDERER = '''
import os

ELSEWHERE = {elsewhere!r}


class Wander:
    params = [1, 2, 3]

    def setup(self, n):
        if os.getcwd() == ELSEWHERE:
            raise RuntimeError("set up in the folder an earlier call moved to")

    def time_wander(self, n):
        os.chdir(ELSEWHERE)


def time_each_sample_starts_home():
    if os.getcwd() == ELSEWHERE:
        raise RuntimeError("timed in the folder the sample before moved to")
    os.chdir(ELSEWHERE)


time_each_sample_starts_home.number = 1
time_each_sample_starts_home.repeat = 4


def track_where(n):
    moved = os.getcwd() == ELSEWHERE
    os.chdir(ELSEWHERE)
    return float(moved)


track_where.params = [1, 2, 3]
'''


def test_a_benchmark_that_changes_folder_does_not_move_the_next_call(tmp_path):
    """Every parameter set and every sample starts in the worker's own folder, whatever
    the one before did (setup, timed call or track_)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    (project / "benchmarks").mkdir(parents=True)
    (project / "benchmarks" / "bench_wander.py").write_text(
        WANDERER.format(elsewhere=str(elsewhere)))
    proc = histbench("dev", "--json", "--rounds", "1", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert len(results) == 7 and all(r["status"] == "ok" for r in results), results
    assert {r["process_samples"][0][0] for r in results
            if r["name"].endswith("track_where")} == {0.0}


@pytest.mark.parametrize("args, option", [
    (("run", "HEAD", "--steps", "0"), "--steps"),
    (("run", "HEAD", "--rounds", "-1"), "--rounds"),
    (("run", "HEAD", "--repeat", "0"), "--repeat"),
    (("dev", "--rounds", "x"), "--rounds"),
    (("compare", "a", "b", "--alpha", "2"), "--alpha"),
    (("compare", "a", "b", "--alpha", "nan"), "--alpha"),
    (("compare", "a", "b", "--factor", "-1"), "--factor"),
    (("compare", "a", "b", "--factor", "inf"), "--factor"),
    (("regressions", "--alpha", "0"), "--alpha"),
    (("bisect", "--step", "0"), "--step"),
    (("publish", "--jobs", "0"), "--jobs"),
    (("preview", "--port", "70000"), "--port"),
    (("continuous", "a", "b", "--rounds", "0"), "--rounds"),
    (("run", "HEAD", "--machine=-rf"), "--machine"),
    (("machine", "--machine", "a/b"), "--machine"),
    (("dev", "--machine", " "), "--machine"),
    (("show", "--machine", "x\ty"), "--machine"),
])
def test_nonsense_numbers_are_refused_before_anything_runs(tmp_path, args, option):
    proc = histbench(*args, cwd=tmp_path)
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "argument" in error[0] and option in error[0], proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path):
    """``histbench dev | head`` with the reader gone: a quiet exit 1, not a traceback. The
    pipe's reading end is closed before histbench starts, so every write fails, always."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text("def track_one():\n    return 1\n")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "histbench", "dev", "--quick"],
                              cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_output_paths_are_checked_before_anything_is_measured(tmp_path):
    missing = tmp_path / "no" / "such" / "summary.md"
    proc = histbench("continuous", "HEAD~1", "HEAD", "--summary", str(missing), cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = histbench("report", "--baseline", "x", "--output", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "is a folder" in proc.stderr


WIPER = '''
import os
import shutil


def time_wipe():
    here = os.getcwd()
    if "histbench-run-" in here:  # the worker's own temporary folder, never anything else
        for name in os.listdir(here):
            path = os.path.join(here, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def track_fine():
    return 1
'''


def test_a_benchmark_that_wipes_the_workers_folder_gets_a_true_reason(tmp_path):
    """Before: "worker exited with status 0", which sends a user looking for a crash."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "bench_wipe.py").write_text(WIPER)
    proc = histbench("dev", "--json", "--rounds", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    by_name = {r["name"]: r for r in json.loads(proc.stdout)["results"]}
    assert "temporary files were deleted" in by_name["bench_wipe.time_wipe"]["reason"]
    assert by_name["bench_wipe.track_fine"]["status"] == "ok"
