"""Hostile or damaged input of the kinds a probe found getting through: configs with
numbers no float holds, git options smuggled in as branch or range names, regexes that
overflow, damaged calibration and machine files, output paths onto histbench's own files,
and benchmarks whose timing attributes are nonsense. Each must be one line naming the
culprit and a non-zero exit, nothing measured lost, no file of the user's touched. All
inside temporary folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from toyrepo import ToyCommit

from histbench.core.config import load_config
from histbench.core.errors import HistbenchError


def histbench(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], proc.stderr


@pytest.mark.parametrize("settings, words", [
    ({"default_timeout": 10**400}, "default_timeout"),
    ({"watts_per_core": 10**400}, "watts_per_core"),
    ({"thresholds": {"x": 10**400}}, "thresholds"),
    ({"thresholds": {"x": float("nan")}}, "thresholds"),
    ({"thresholds": {"x": float("inf")}}, "thresholds"),
    ({"thresholds": {"a{99999999999}": 0.1}}, "thresholds"),
    ({"thresholds": {"(" * 200_000: 0.1}}, "thresholds"),
    ({"branches": ["--output=victim"]}, "branches"),
    ({"branches": ["-n1"]}, "branches"),
    ({"branches": [" "]}, "branches"),
    ({"wheel_cache_size": 10**30}, "wheel_cache_size"),
    ({"measure": "cycles"}, "measure"),
])
def test_configs_no_float_or_git_can_take_are_refused(tmp_path, settings, words):
    path = tmp_path / "histbench.json"
    path.write_text(json.dumps({"project": "p", **settings}))
    with pytest.raises(HistbenchError) as info:
        load_config(path)
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("make", ["loop", "fifo", "dev-zero"])
def test_a_config_that_is_no_regular_file_is_one_line_not_a_hang(tmp_path, make):
    path = tmp_path / "cfg"
    if make == "loop":
        os.symlink(tmp_path / "other", path)
        os.symlink(path, tmp_path / "other")
    elif make == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    one_line(histbench(tmp_path, "--config", str(path), "show", timeout=60), str(path.name))


def test_an_asv_config_that_is_a_fifo_is_one_line_not_a_hang(tmp_path):
    """asv.conf.json is read through the same guarded reader as histbench.json."""
    path = tmp_path / "asv.conf.json"
    os.mkfifo(path)
    one_line(histbench(tmp_path, "--config", str(path), "show", timeout=20), "asv.conf.json")


@pytest.fixture(scope="module")
def measured(tmp_path_factory, shared_env_dir):
    from conftest import FAST_ATTRS
    from toyrepo import make_repo

    repo = tmp_path_factory.mktemp("hostile") / "repo"
    hashes = make_repo(repo, [ToyCommit(), ToyCommit(work=30_000)], bench_attrs=FAST_ATTRS,
                       config={"env_dir": str(shared_env_dir)})
    proc = histbench(repo, "run", "main", "--machine", "m", "--quick")
    assert proc.returncode == 0, proc.stderr
    return repo, hashes


@pytest.fixture
def repo(measured, tmp_path):
    """A copy of the measured repo, for a test to damage."""
    copy = tmp_path / "repo"
    shutil.copytree(measured[0], copy, symlinks=True)
    return copy


@pytest.mark.parametrize("spec", ["--output={victim}", "HEAD~1..--output={victim}",
                                  "-n1..HEAD", "--all", "--output={victim}...HEAD"])
def test_ranges_and_commits_never_reach_git_as_options(repo, tmp_path, spec):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    spec = spec.format(victim=victim)
    one_line(histbench(repo, "run", "--dry-run", "--", spec), "cannot start with '-'")
    one_line(histbench(repo, "compare", "--", spec, "HEAD"))  # never a commit here
    assert victim.read_text() == "precious"


def test_branches_from_the_config_never_reach_git_as_options(repo, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    config = json.loads((repo / "histbench.json").read_text())
    (repo / "histbench.json").write_text(json.dumps({**config,
                                                     "branches": [f"--output={victim}"]}))
    one_line(histbench(repo, "run", "--dry-run", "ALL"), "branches")
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(", "x" + "(" * 100_000])
@pytest.mark.parametrize("command", ["dev", "run", "report", "bisect"])
def test_regexes_that_cannot_compile_are_one_line(repo, pattern, command):
    args = {"dev": ["dev", "-b", pattern], "run": ["run", "main", "-b", pattern],
            "report": ["report", "--baseline", "HEAD~1", "-b", pattern],
            "bisect": ["bisect", "HEAD~1", "HEAD", "-b", pattern]}[command]
    one_line(histbench(repo, *args), "regex")


@pytest.mark.parametrize("damage", [
    lambda d: d["vm"]["bench_toy.time_compute"]["numbers"].update({"0": "many"}),
    lambda d: d["vm"]["bench_toy.time_compute"]["numbers"].update({"0": 10**12}),
    lambda d: d["vm"]["bench_toy.time_compute"]["numbers"].update({"0": 1.5}),
    lambda d: d["vm"]["bench_toy.time_compute"]["numbers"].update({"0": True}),
    lambda d: d["vm"]["bench_toy.time_compute"].update({"numbers": [1]}),
    lambda d: d["__reference_levels__"].update({"e": -1}),
    lambda d: d["__reference_levels__"].update({"e": "fast"}),
])
def test_a_damaged_calibration_file_stops_the_run_naming_it(repo, damage):
    path = repo / "results" / "m" / "calibration.json"
    data = json.loads(path.read_text())
    env = next(k for k in data if not k.startswith("__"))
    data["vm"] = {"bench_toy.time_compute": {"version": "v", "numbers": {"0": 10}}}
    data.setdefault("__reference_levels__", {})
    damage(data)
    data[env] = data.pop("vm")
    path.write_text(json.dumps(data))
    before = sorted(p.name for p in (repo / "results" / "m").iterdir())
    one_line(histbench(repo, "run", "main", "--machine", "m", "--quick"), "calibration.json")
    assert sorted(p.name for p in (repo / "results" / "m").iterdir()) == before


@pytest.mark.parametrize("field, value", [("cores", 10**400), ("ram_bytes", -1),
                                          ("cores", 0 - 5)])
def test_a_machine_record_with_impossible_numbers_is_said_by_publish(repo, field, value):
    path = repo / "results" / "m" / "machine.json"
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    proc = histbench(repo, "publish")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"warning: {path}" in proc.stderr and field in proc.stderr
    one_line(histbench(repo, "run", "main", "--machine", "m", "--quick"), "machine.json")


def test_reports_never_overwrite_histbench_files_nor_compare_a_commit_with_itself(repo):
    result = next((repo / "results" / "m").glob("*-*.json"))
    kept = result.read_bytes()
    for target in (result, repo / "results" / "new.json", repo / "html" / "x.md"):
        (repo / "html").mkdir(exist_ok=True)
        one_line(histbench(repo, "report", "--baseline", "HEAD~1", "--format", "json",
                           "--output", str(target)), "histbench keeps its own files")
        one_line(histbench(repo, "continuous", "HEAD~1", "HEAD", "--summary", str(target)),
                 "histbench keeps its own files")
    assert result.read_bytes() == kept
    one_line(histbench(repo, "report", "--baseline", "HEAD", "--commit", "HEAD"),
             "is the commit being reported")
    proc = histbench(repo, "report", "--baseline", "HEAD~1")  # markdown to stdout
    assert proc.returncode == 0, proc.stderr
    assert not list(repo.glob("*.svg"))  # no plot files dropped in the user's folder


@pytest.mark.parametrize("args", [["publish", "-j", "100000"],
                                  ["run", "main", "--rounds", "99999999999999999999"],
                                  ["dev", "--repeat", "10000000"],
                                  ["bisect", "HEAD~1", "HEAD", "-b", "x", "--rounds", "5000"]])
def test_counts_that_would_never_finish_are_refused(repo, args):
    proc = histbench(repo, *args)
    assert proc.returncode == 2 and "at most" in proc.stderr, proc.stderr


GOOD_AND_BAD = '''
import toypkg


def track_good():
    return toypkg.WORK


def time_{name}():
    toypkg.compute(100)


time_{name}.{attribute} = {value}
'''


@pytest.mark.parametrize("attribute, value", [
    ("timeout", "'soon'"), ("timeout", "float('nan')"), ("timeout", "-5"),
    ("warmup_time", "float('nan')"), ("rounds", "10**30"), ("rounds", "0"),
    ("repeat", "'many'"), ("repeat", "(5, 2, 1.0)"), ("number", "-3"),
    ("sample_time", "float('inf')"), ("measure", "'cycles'"),
])
def test_a_benchmark_with_nonsense_attributes_is_an_error_and_the_rest_is_measured(
        repo, attribute, value):
    (repo / "benchmarks" / "bench_bad.py").write_text(
        GOOD_AND_BAD.format(name="bad", attribute=attribute, value=value))
    proc = histbench(repo, "run", "HEAD", "--machine", "m", "--quick")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"error: bench_bad.time_bad: {attribute} = " in proc.stderr
    [run] = [json.loads(p.read_text()) for p in (repo / "results" / "m").glob("*-*.json")
             if json.loads(p.read_text())["commit"]["hash"].startswith(
                 subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True).stdout.strip())]
    names = {r["name"] for r in run["results"]}
    assert {"bench_bad.track_good", "bench_toy.time_compute"} <= names
    assert "bench_bad.time_bad" not in names


def test_parameters_without_stable_text_are_warned_about(repo):
    (repo / "benchmarks" / "bench_addr.py").write_text(
        "class Thing:\n    pass\n\n\ndef track_x(p):\n    return 1\n\n\n"
        "track_x.params = [Thing(), 2]\n")
    proc = histbench(repo, "dev", "-b", "track_x", "--quick")  # (toypkg is not importable
    assert "Traceback" not in proc.stderr                       # here: dev exits 2)
    assert "bench_addr.track_x: parameter <benchmarks.bench_addr.Thing object at 0x" in \
        proc.stderr and "has no stable text (a memory address)" in proc.stderr


def _with_config(repo: Path, **settings) -> None:
    config = json.loads((repo / "histbench.json").read_text())
    (repo / "histbench.json").write_text(json.dumps({**config, **settings}))


def test_a_changed_build_command_never_reuses_the_old_commands_wheels(repo):
    """The cached wheels were made by the default build; a new command must run (and
    here fail to build), not be skipped for a wheel it never made."""
    _with_config(repo, build_command=["nonexistent-cmd-xyz {build_dir}"])
    proc = histbench(repo, "run", "HEAD", "--machine", "m", "--quick")
    assert proc.returncode == 3 and "nonexistent-cmd-xyz" in proc.stderr, proc.stderr


def test_requirements_that_do_not_install_are_one_line(repo, tmp_path):
    _with_config(repo, requirements={"histbench-no-such-package-xyz": "==1.0"},
                 env_dir=str(tmp_path / "envs"))
    one_line(histbench(repo, "run", "HEAD", "--machine", "m", "--quick"),
             "histbench-no-such-package-xyz")
