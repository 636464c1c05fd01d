"""Runs that share an ``env_dir`` (issue 11, defect 1): environments, the wheel cache and
the build clone stay sound when several runs use them at once, a damaged cached build is
rebuilt rather than measured without its code, and a half-made environment is made again.

Real git histories, real virtualenvs, real ``histbench`` processes. Concurrent runs start
together and are simply waited for: nothing here depends on timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from toyrepo import PACKAGE, ToyCommit

from histbench.store import results

HISTORY = [ToyCommit(), ToyCommit(work=30_000), ToyCommit(work=40_000)]


def start(repo: Path, config: str, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "histbench", "--config", config, "run", "main",
           "--machine", "m", "--quick", *args]
    return subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=900)
    return proc.returncode, err


def run(repo: Path, config: str = "histbench.json", *args: str) -> tuple[int, str]:
    return finish(start(repo, config, *args))


def add_config(repo: Path, name: str, results_dir: str) -> str:
    """Another config for the same repo and env_dir, writing to its own results_dir."""
    settings = json.loads((repo / "histbench.json").read_text())
    (repo / name).write_text(json.dumps({**settings, "results_dir": results_dir}))
    return name


def check_results(folder: Path, hashes: list[str], *, cached: bool | None = None) -> None:
    """Every commit measured with its own code (track_work is exact), none failed."""
    runs = {r.commit.hash: r for r in results.load_machine_results(folder, "m")}
    assert set(runs) == set(hashes)
    for commit, h in zip(HISTORY, hashes, strict=True):
        assert runs[h].build.ok, runs[h].build.reason
        if cached is not None:
            assert runs[h].build.cached is cached
        work = next(r for r in runs[h].results if r.name == "bench_toy.track_work")
        assert set(work.samples) == {float(commit.work)}


def cached_wheels(env_dir: Path) -> list[Path]:
    return sorted(env_dir.glob("wheels/py*/*/*.whl"))


def test_concurrent_runs_on_one_env_dir_then_a_solo_run(toy_repo, tmp_path):
    env_dir = tmp_path / "envs"  # fresh: the runs race on creating the environment too
    repo, hashes = toy_repo(HISTORY, env_dir=str(env_dir))
    configs = ["histbench.json", add_config(repo, "b.json", "results_b"),
               add_config(repo, "c.json", "results_c")]
    procs = [start(repo, config) for config in configs]
    for config, proc in zip(configs, procs, strict=True):
        code, err = finish(proc)
        assert code == 0, f"{config}: {err}"
    for folder in ("results", "results_b", "results_c"):
        check_results(repo / folder, hashes)
    assert len(cached_wheels(env_dir)) == len(hashes)  # each commit built once
    code, err = run(repo)
    assert code == 0, err
    check_results(repo / "results", hashes, cached=True)


def test_damaged_cached_wheels_are_rebuilt(toy_repo, shared_env_dir):
    repo, hashes = toy_repo(HISTORY)
    code, err = run(repo)
    assert code == 0, err
    wheels = {w.parent.name: w for w in cached_wheels(shared_env_dir)}
    truncated, no_package, no_file = (wheels[h] for h in hashes)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    rewrite_without(no_package, lambda n: n.startswith(f"{PACKAGE}/"), keep_record=False)
    rewrite_without(no_file, lambda n: n == f"{PACKAGE}/__init__.py", keep_record=True)
    code, err = run(repo)
    assert code == 0, err
    check_results(repo / "results", hashes, cached=False)  # all three built again
    for h in hashes:
        with zipfile.ZipFile(wheels[h]) as zf:
            assert f"{PACKAGE}/__init__.py" in zf.namelist()
    code, err = run(repo)
    assert code == 0, err
    check_results(repo / "results", hashes, cached=True)


def rewrite_without(wheel: Path, drop, *, keep_record: bool) -> None:
    """The wheel without the entries ``drop`` selects; its RECORD still lists them when
    ``keep_record`` (a file gone), or is rewritten without them (a build that packed an
    empty checkout: a consistent wheel with no package)."""
    with zipfile.ZipFile(wheel) as zf:
        entries = {n: zf.read(n) for n in zf.namelist() if not drop(n)}
    if not keep_record:
        record = next(n for n in entries if n.endswith(".dist-info/RECORD"))
        entries[record] = b"".join(line + b"\n" for line in entries[record].splitlines()
                                   if not drop(line.split(b",")[0].decode()))
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_half_made_environment_is_rebuilt(toy_repo, tmp_path):
    env_dir = tmp_path / "envs"  # its own: this test breaks the environment
    repo, hashes = toy_repo(HISTORY, env_dir=str(env_dir))
    code, err = run(repo)
    assert code == 0, err
    (env,) = env_dir.glob("envs/*")
    marker = env / "histbench-env.json"
    # Killed after the interpreter was made, before the requirements and the marker.
    marker.unlink()
    (env / "pyvenv.cfg").unlink()
    code, err = run(repo)
    assert code == 0, err
    assert marker.exists() and (env / "pyvenv.cfg").exists()
    check_results(repo / "results", hashes, cached=True)
    # A marker cut short by a kill mid-write is not taken for a finished environment.
    marker.write_text('{"installed": [')
    code, err = run(repo)
    assert code == 0, err
    assert json.loads(marker.read_text())["installed"] == []
    check_results(repo / "results", hashes, cached=True)


# Blocks until the test opens the gate, then reads the package the env holds *now*: what
# another run did to this run's install meanwhile shows in the value.
GATE_SUITE = '''
import importlib, os, time
import toypkg

GATE = {gate!r}


def track_gate():
    open(GATE + ".waiting", "w").close()
    deadline = time.time() + 300
    while not os.path.exists(GATE) and time.time() < deadline:
        time.sleep(0.05)
    importlib.reload(toypkg)
    return toypkg.WORK
'''


def _gated(repo: Path, tmp_path: Path, **settings) -> tuple[Path, str, str]:
    """Configs a.json and b.json: their own results, one env_dir of their own."""
    gate = tmp_path / "gate"
    (repo / "benchmarks" / "bench_gate.py").write_text(GATE_SUITE.format(gate=str(gate)))
    base = json.loads((repo / "histbench.json").read_text())
    for name in ("a", "b"):
        (repo / f"{name}.json").write_text(json.dumps(
            {**base, "env_dir": str(tmp_path / "envs"), "results_dir": f"results-{name}",
             **settings}))
    return gate, "a.json", "b.json"


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the gated benchmark never started"
        time.sleep(0.05)


def _value(folder: Path, sha: str, name: str) -> float:
    [run_] = [r for r in results.load_machine_results(folder, "m") if r.commit.hash == sha]
    [result] = [r for r in run_.results if r.name == name]
    assert result.status == "ok", result.reason
    return result.samples[0]


def _start_on(repo: Path, config: str, sha: str, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "histbench", "--config", config, "run", sha,
           "--machine", "m", "--quick", *args]
    return subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_run_does_not_evict_the_install_another_run_measures_with(toy_repo, tmp_path):
    """Run A measures commit 1 and waits; run B builds every commit with a cache of one
    build, which would evict commit 1's build and its install under A's feet."""
    repo, hashes = toy_repo(HISTORY)
    gate, a, b = _gated(repo, tmp_path, wheel_cache_size=1)
    holder = _start_on(repo, a, hashes[0], "-b", "track_gate")
    _wait_for(Path(f"{gate}.waiting"), holder)
    code, err = run(repo, b, "-b", "track_work")
    assert code == 0, err
    gate.touch()
    code, err = finish(holder)
    assert code == 0, err
    assert _value(repo / "results-a", hashes[0], "bench_gate.track_gate") == HISTORY[0].work
    for commit, sha in zip(HISTORY, hashes, strict=True):
        assert _value(repo / "results-b", sha, "bench_toy.track_work") == commit.work


def test_runs_that_install_into_one_env_take_turns(toy_repo, tmp_path):
    """With an ``install_command`` each commit is installed *into* the environment: run B
    must not put its commit there while run A still measures its own."""
    repo, hashes = toy_repo(HISTORY)
    gate, a, b = _gated(repo, tmp_path, install_command=[
        "{python} -m pip install --quiet --no-deps --force-reinstall {wheel_file}"])
    holder = _start_on(repo, a, hashes[0], "-b", "track_gate")
    _wait_for(Path(f"{gate}.waiting"), holder)
    other = _start_on(repo, b, hashes[1], "-b", "track_work")
    try:  # unguarded, B installs and measures its commit well within this
        other.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    gate.touch()
    for proc in (holder, other):
        code, err = finish(proc)
        assert code == 0, err
    assert _value(repo / "results-a", hashes[0], "bench_gate.track_gate") == HISTORY[0].work
    assert _value(repo / "results-b", hashes[1], "bench_toy.track_work") == HISTORY[1].work
