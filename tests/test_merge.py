"""`histbench merge` and the overlap commit of sharded runs: result folders of several CI
jobs merged (conflicts refused), and runner offsets between shards measured on the
overlap commit and divided out before step detection.

The shard-offset test is deterministic: synthetic result files (seeded noise, a real step
and one shard's runner 1.3x slow) over a real git history, read back by real `histbench`
subprocesses. Run it with ``-s`` to see the numbers it checks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from toyrepo import ToyCommit, make_repo

from histbench.analysis.shard_offsets import load_offsets
from histbench.store import machine, results, shards
from histbench.store.machine import MachineRecord
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults
from histbench.store.shards import ShardLabel

MACHINE = "ci-linux"
ENV = "virtualenv-py3.11"
COMMITS = 36
STEP_AT = 18  # commit index where the code really gets slower
STEP = 1.25
OFFSET = 1.3  # shard 3's runner is this much slower
SHARDS = 3
SLOW_SHARD = 3


def histbench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def record(**changes) -> MachineRecord:
    fields = dict(name=MACHINE, os="Linux 6.8", arch="x86_64", cpu="Example CPU @ 3.0GHz",
                  cores=4, ram_bytes=16 * 1024**3, python="3.11.9",
                  python_implementation="CPython")
    return MachineRecord(**{**fields, **changes})


def timing(rng: np.random.Generator, level: float) -> BenchmarkResult:
    """4 processes x 5 samples around ``level``: 1% between processes, 1% within."""
    groups = [[float(level * p * x) for x in np.exp(rng.normal(0, 0.01, 5))]
              for p in np.exp(rng.normal(0, 0.01, 4))]
    return BenchmarkResult(name="bench.time_work", kind="time", version="v1",
                           process_samples=groups).with_stats()


def counter(value: float) -> BenchmarkResult:
    return BenchmarkResult(name="bench.track_size", kind="track", unit="items", version="v1",
                           process_samples=[[value]]).with_stats()


def run_of(info: CommitInfo, level: float, label: ShardLabel | None,
           rng: np.random.Generator, fingerprint: dict | None = None) -> RunResults:
    settings = {shards.SETTINGS_KEY: label.to_dict()} if label else {}
    return RunResults(machine=MACHINE, env_name=ENV, commit=info, settings=settings,
                      results=[timing(rng, level), counter(100.0)],
                      fingerprint=fingerprint or record().fingerprint())


def synthetic_shards(repo: Path, hashes: list[str], out: Path, *, overlap: bool) -> list[Path]:
    """One results folder per shard, as `run ALL --shard k/3` leaves them on three runners:
    shard k measures every 3rd commit from the k-th, and (``overlap``) the first commit
    too; shard 3's runner is OFFSET times slower. Same seed: same numbers either way."""
    infos = [CommitInfo(hash=h, date=1.7e9 + i * 3600, subject=f"commit {i}")
             for i, h in enumerate(hashes)]
    rng = np.random.default_rng(20260114)
    folders = []
    for k in range(1, SHARDS + 1):
        folder = out / f"shard-{k}"
        machine.save(record(), folder)
        label = ShardLabel(hashes[0], SHARDS, k) if overlap else None
        speed = OFFSET if k == SLOW_SHARD else 1.0
        for i in range(k - 1, len(hashes), SHARDS):
            level = 1e-3 * (STEP if i >= STEP_AT else 1.0) * speed
            results.save(run_of(infos[i], level, label, rng), folder)
        if overlap:
            shards.save_overlap(run_of(infos[0], 1e-3 * speed, label, rng), folder)
        folders.append(folder)
    return folders


def steps_reported(repo: Path, results_dir: str) -> list[dict]:
    config = repo / f"{results_dir}.json"
    config.write_text(json.dumps({"project": "toypkg", "branches": ["main"],
                                  "results_dir": results_dir}))
    proc = histbench(repo, "--config", str(config), "regressions", "--all", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["changes"]


def test_shard_offset_is_measured_and_not_reported_as_steps(tmp_path):
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit(subject=f"commit {i}") for i in range(COMMITS)])
    found = {}
    for design, overlap in (("with overlap", True), ("without overlap", False)):
        folders = synthetic_shards(repo, hashes, tmp_path / design.replace(" ", "-"),
                                   overlap=overlap)
        target = "merged" if overlap else "plain"
        proc = histbench(repo, "merge", "--into", target, *map(str, folders))
        assert proc.returncode == 0, proc.stderr
        found[design] = (steps_reported(repo, target), proc.stderr)
    offsets = load_offsets(repo / "merged", MACHINE, ENV)
    time_key = ("bench.time_work", ())
    measured = {label.index: offset for label, offset in offsets.of_series(time_key)}
    print("\nshard offsets (time_work, against shard 1): "
          + ", ".join(f"shard {i}/3 {o.ratio:.3f}x (p={o.p_value:.2g}, "
                      f"{'divided out' if o.applied else 'kept'})" for i, o in
                      sorted(measured.items())))
    for design, (changes, _) in found.items():
        print(f"{design}: {len(changes)} step(s) reported: " + "; ".join(
            f"{c['benchmark']} {c['kind']} at commit {hashes.index(c['first_bad'])} "
            f"x{c['ratio']:.3f}" for c in changes))
    # the offset: measured near 1.3x for the slow shard, and divided out; none for shard 2
    assert abs(measured[SLOW_SHARD].ratio - OFFSET) < 0.03 and measured[SLOW_SHARD].applied
    assert abs(measured[2].ratio - 1.0) < 0.03
    assert f"3/3 {measured[SLOW_SHARD].ratio:.3f}x" in found["with overlap"][1]
    # with the overlap commit: exactly the real step, at its commit, at its size
    [step] = found["with overlap"][0]
    assert step["benchmark"] == "bench.time_work" and step["kind"] == "regression"
    assert hashes.index(step["first_bad"]) == STEP_AT
    assert abs(step["ratio"] - STEP) < 0.03
    # without it the shards' zigzag hides the real step or makes false ones
    without = found["without overlap"][0]
    assert not (len(without) == 1 and hashes.index(without[0]["first_bad"]) == STEP_AT)


def test_site_shows_offsets_and_marks_other_hardware(tmp_path):
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit(subject=f"commit {i}") for i in range(COMMITS)])
    folders = synthetic_shards(repo, hashes, tmp_path, overlap=True)
    # one result of shard 2 came from a runner with another CPU and more cores
    other = record(cpu="Other CPU @ 2.1GHz", cores=8).fingerprint()
    path = results.result_path(folders[1], MACHINE, hashes[4], ENV)
    run = results.load(path)
    run.fingerprint = other
    results.save(run, folders[1])
    proc = histbench(repo, "merge", *map(str, folders))
    assert proc.returncode == 0, proc.stderr
    proc = histbench(repo, "publish")
    assert proc.returncode == 0, proc.stderr
    site = repo / "html" / f"{MACHINE}--{ENV}"
    page = (site / "b" / "bench.time_work.html").read_text()
    assert "Runner offsets of sharded runs" in page
    assert re.search(r"<td>3/3</td>.*?1\.[23]\d\dx.*?divided out", page, re.S)
    assert "Points measured on other hardware" in page and hashes[4][:8] in page
    commit_page = (site / "c" / f"{hashes[4]}.html").read_text()
    assert "Measured on other hardware" in commit_page and "Other CPU @ 2.1GHz" in commit_page
    assert "cores 8 (record: 4)" in commit_page
    plain = (site / "c" / f"{hashes[5]}.html").read_text()
    assert "Measured on other hardware" not in plain and "shard 3/3" in plain


# --------------------------------------------------------------------------- merge rules


def test_merge_refuses_conflicts_in_one_line_and_writes_nothing(tmp_path):
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit()] * 4)
    a, b = synthetic_shards(repo, hashes, tmp_path / "a", overlap=True)[:2]
    # b measured a commit of a's too, differently: a conflict between the folders
    clash = results.result_path(a, MACHINE, hashes[0], ENV).relative_to(a)
    run = results.load(a / clash)
    run.results[0].process_samples[0][0] *= 1.5
    results.save(run, b)
    proc = histbench(repo, "merge", str(a), str(b))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "conflict" in proc.stderr and str(a / clash) in proc.stderr \
        and str(b / clash) in proc.stderr
    assert not (repo / "results").exists() or not any((repo / "results").rglob("*.json"))
    # against the target: refused unless --replace
    assert histbench(repo, "merge", str(a)).returncode == 0
    proc = histbench(repo, "merge", str(b))
    assert proc.returncode == 1 and "--replace" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
    before = (repo / "results" / clash).read_bytes()
    assert before == (a / clash).read_bytes()
    proc = histbench(repo, "merge", "--replace", str(b))
    assert proc.returncode == 0, proc.stderr
    assert (repo / "results" / clash).read_bytes() == (b / clash).read_bytes()
    assert "1 replaced" in proc.stderr


def test_merge_identical_copies_and_partial_shards(tmp_path):
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit()] * 6)
    folders = synthetic_shards(repo, hashes, tmp_path, overlap=True)
    # every job started from the same earlier results: identical copies are no conflict
    earlier = tmp_path / "earlier"
    results.save(results.load(results.result_path(folders[0], MACHINE, hashes[0], ENV)),
                 earlier)
    for folder in folders:
        shutil.copytree(earlier, folder, dirs_exist_ok=True)
    proc = histbench(repo, "merge", *map(str, folders[:2]))
    assert proc.returncode == 0, proc.stderr
    merged = {p.name for p in (repo / "results" / MACHINE).glob("*.json")}
    assert len([n for n in merged if n != "machine.json"]) == 4
    assert "no results of shard 3/3 here" in proc.stderr
    proc = histbench(repo, "merge", str(folders[2]))
    assert proc.returncode == 0, proc.stderr
    assert len(results.iter_result_files(repo / "results", MACHINE)) == 6
    assert len(shards.iter_overlap_files(repo / "results", MACHINE)) == 3


BAD_CALIBRATIONS = {  # each refused as the runner refuses it (store/calibration_file.py)
    "calibration-level": {"__reference_levels__": {ENV: -1.0}},
    "calibration-count": {ENV: {"bench.time_work": {"version": "v1", "numbers": {"0": 0}}}},
    "calibration-shape": {ENV: ["not", "an", "object"]},
}


@pytest.mark.parametrize("problem", ["corrupt", "misplaced", "machine-folder", "empty",
                                     *BAD_CALIBRATIONS])
def test_merge_validates_folders(tmp_path, problem):
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit()] * 3)
    [folder] = synthetic_shards(repo, hashes, tmp_path, overlap=False)[:1]
    given = folder
    path = results.result_path(folder, MACHINE, hashes[0], ENV)
    if problem == "corrupt":
        path.write_text('{"schema": "histbench-results", "schema_version": 1, "machi')
    elif problem == "misplaced":
        path.rename(path.with_name(f"{hashes[1][:12]}-{ENV}.json"))
    elif problem == "machine-folder":
        given = folder / MACHINE
    elif problem in BAD_CALIBRATIONS:
        (folder / MACHINE / "calibration.json").write_text(
            json.dumps(BAD_CALIBRATIONS[problem]))
    else:
        given = tmp_path / "nothing"
        given.mkdir()
    proc = histbench(repo, "merge", str(given))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert str(given) in proc.stderr
    assert not (repo / "results").exists() or not any((repo / "results").rglob("*.json"))


# --------------------------------------------------------------------------- machines


def test_run_warns_on_other_hardware_and_keeps_the_record(tmp_path, monkeypatch):
    results_dir = tmp_path / "results"
    machine.save(record(), results_dir)
    warnings = machine.record_for_run(record(cpu="Other CPU", ram_bytes=8 * 1024**3),
                                      results_dir)
    assert len(warnings) == 1 and "Other CPU" in warnings[0] and "8.0 GiB" in warnings[0]
    assert machine.load(machine.machine_path(results_dir, MACHINE)).cpu == record().cpu
    # memory a kernel reserves differently, or a new OS image: the same hardware
    assert machine.record_for_run(record(ram_bytes=16 * 1024**3 - 50 * 2**20),
                                  results_dir) == []
    [line] = machine.record_for_run(record(os="Linux 6.9"), results_dir)
    assert "OS changed" in line
    assert machine.load(machine.machine_path(results_dir, MACHINE)).os == "Linux 6.9"
    monkeypatch.setenv(machine.NAME_VARIABLE, "gha-ubuntu-24.04")
    assert machine.collect(sys_root=str(tmp_path)).name == "gha-ubuntu-24.04"
    assert machine.collect("explicit", sys_root=str(tmp_path)).name == "explicit"
    monkeypatch.setenv(machine.NAME_VARIABLE, "../evil")
    with pytest.raises(Exception, match="invalid machine name"):
        machine.collect(sys_root=str(tmp_path))


def test_histbench_run_on_other_hardware_warns_and_records_it(toy_repo):
    """A runner of the same name but another CPU: `run` warns, keeps the record, stores
    the runner's own fingerprint with the result; the name comes from HISTBENCH_MACHINE."""
    repo, hashes = toy_repo([ToyCommit()])
    here = machine.collect("pool")
    machine.save(MachineRecord(**{**here.to_dict(), "cpu": "Some Other CPU",
                                  "load_average": None}), repo / "results")
    env = {**os.environ, machine.NAME_VARIABLE: "pool"}
    proc = subprocess.run([sys.executable, "-m", "histbench", "run", "HEAD", "--quick", "-b",
                           "track"], cwd=repo, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hardware differs" in proc.stderr and "Some Other CPU" in proc.stderr
    [run] = results.load_machine_results(repo / "results", "pool")
    assert run.fingerprint == here.fingerprint() and run.commit.hash == hashes[0]
    assert machine.load(machine.machine_path(repo / "results", "pool")).cpu == "Some Other CPU"


def test_fingerprint_is_validated_in_result_files(tmp_path):
    run = RunResults(machine=MACHINE, env_name=ENV, commit=CommitInfo(hash="a" * 40),
                     fingerprint=record().fingerprint())
    path = results.save(run, tmp_path)
    assert results.load(path).fingerprint == record().fingerprint()
    data = json.loads(path.read_text())
    data["fingerprint"] = {"cores": True}
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="fingerprint must be"):
        results.load(path)
    del data["fingerprint"]  # older files: none
    path.write_text(json.dumps(data))
    assert results.load(path).fingerprint == {}
