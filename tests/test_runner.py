"""`histbench run` over real git histories, in real virtualenvs, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toyrepo import ToyCommit, git

from histbench.core.config import load_config
from histbench.run.git import Repo, resolve_range, shard, spaced
from histbench.store import results


def histbench(repo: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True, timeout=600, **kw)


def load_all(repo: Path, machine: str = "m") -> dict[str, results.RunResults]:
    runs = results.load_machine_results(repo / "results", machine)
    return {r.commit.hash: r for r in runs}


def processes_run(r: results.BenchmarkResult) -> int:
    """Worker processes behind a timing result: one a round, plus a round run again when a
    burst of machine load disturbed every sample of it (at most once a round), plus one
    more round (and its rerun) if the result ended with too few quiet samples
    (rounds.MIN_QUIET)."""
    return len(r.process_references) or len(r.process_samples)


HISTORY = [ToyCommit(), ToyCommit(), ToyCommit(builds=False), ToyCommit(),
           ToyCommit(work=60_000), ToyCommit(work=60_000)]


def test_history_run_records_builds_failures_and_the_slow_commit(toy_repo):
    repo, hashes = toy_repo(HISTORY)
    status_before = git(repo, "status", "--porcelain")
    head_before = git(repo, "rev-parse", "HEAD")
    proc = histbench(repo, "run", "main", "--machine", "m", "--rounds", "5", "--interleave")
    assert proc.returncode == 3, proc.stderr  # a commit failed to build
    runs = load_all(repo)
    assert set(runs) == set(hashes)
    broken = runs[hashes[2]]
    assert broken.build_failed and broken.results == []
    assert "not valid TOML" in broken.build.reason
    # The slow commits are told by track_work, whose values are exact: each commit ran its
    # own code. A 3x timing step is not asserted, since a burst of machine load can make
    # either side of it ~2x slower.
    for i, h in enumerate(hashes):
        if i == 2:
            continue
        by_name = {r.name: r for r in runs[h].results}
        assert set(by_name["bench_toy.track_work"].samples) == {float(HISTORY[i].work)}
        timing = by_name["bench_toy.time_compute"]
        assert timing.status == "ok" and 5 <= processes_run(timing) <= 12
        assert all(len(g) >= 1 for g in timing.process_samples) and timing.stats.median > 0
    info = runs[hashes[4]].commit
    assert info.subject == "commit 4: work=60000" and info.parents == [hashes[3]]
    assert info.author == "Toy Author" and info.branch == "main" and info.date > 0
    # The user's checkout is exactly as it was.
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert (repo / "results" / "m" / "machine.json").exists()


def test_rerun_uses_the_wheel_cache_and_same_calibration(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    assert histbench(repo, "run", "main", "--machine", "m").returncode == 0
    first = load_all(repo)
    proc = histbench(repo, "run", "main", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    second = load_all(repo)
    for h in hashes:
        assert second[h].build.cached is True
        t1 = next(r for r in first[h].results if r.name == "bench_toy.time_compute")
        t2 = next(r for r in second[h].results if r.name == "bench_toy.time_compute")
        assert t1.number == t2.number  # like-for-like: calibrated once, reused
    n0 = next(r for r in second[hashes[0]].results if r.kind == "time").number
    n1 = next(r for r in second[hashes[1]].results if r.kind == "time").number
    assert n0 == n1  # later commits reuse the first commit's loop count


def test_interrupted_run_resumes_with_skip_existing(toy_repo):
    repo, hashes = toy_repo([ToyCommit(work=400_000)] * 4)
    proc = subprocess.Popen([sys.executable, "-m", "histbench", "run", "main", "--machine", "m"],
                            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = repo / "results" / "m"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(results.iter_result_files(repo / "results",
                                                                        "m")) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    done = {p.name: p.stat().st_mtime_ns for p in results.iter_result_files(repo / "results",
                                                                           "m")}
    assert 1 <= len(done) < 4
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))
    for path in results.iter_result_files(repo / "results", "m"):
        results.load(path)  # every file left behind is whole
    resumed = histbench(repo, "run", "main", "--machine", "m", "--skip-existing")
    assert resumed.returncode == 0, resumed.stderr
    after = {p.name: p.stat().st_mtime_ns for p in results.iter_result_files(repo / "results",
                                                                            "m")}
    assert len(after) == 4
    assert all(after[name] == mtime for name, mtime in done.items())  # nothing redone
    assert f"{len(done)} skipped as already measured" in resumed.stderr


def test_interleaved_rounds(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=60_000)])
    proc = histbench(repo, "run", "main", "--machine", "m", "--interleave", "--rounds", "3")
    assert proc.returncode == 0, proc.stderr
    runs = load_all(repo)
    for h in hashes:
        r = next(r for r in runs[h].results if r.name == "bench_toy.time_compute")
        assert 3 <= processes_run(r) <= 8 and runs[h].complete
        assert runs[h].settings["interleave"] is True
    # Round r of every commit before round r+1 of any, as the progress lines tell.
    rounds = [line.split()[1:] for line in proc.stderr.splitlines()
              if line.startswith("round ")]
    assert rounds == [[f"{r}/3", h[:8]] for r in (1, 2, 3) for h in hashes], proc.stderr
    # Each commit's own code ran in every round (exact values: no timing ratio, which a
    # burst of machine load could shrink below any bound that a 3x change must pass).
    for h, work in zip(hashes, (20_000, 60_000), strict=True):
        tracked = next(r for r in runs[h].results if r.name == "bench_toy.track_work")
        assert tracked.process_samples == [[float(work)]] * 3


def test_lock_stops_a_second_writer(toy_repo):
    from histbench.run.history_runner import results_lock

    repo, _ = toy_repo([ToyCommit()])
    with results_lock(repo / "results"):
        proc = histbench(repo, "run", "main", "--machine", "m")
    assert proc.returncode == 1
    assert "another histbench run" in proc.stderr and proc.stderr.count("\n") == 1


def test_dry_run_quick_bench_filter_and_shard(toy_repo):
    repo, hashes = toy_repo([ToyCommit()] * 4)
    proc = histbench(repo, "run", "HEAD~2..HEAD", "--dry-run", "--machine", "m")
    assert proc.returncode == 0
    assert [line.split()[0] for line in proc.stdout.splitlines()] == [h[:8] for h in hashes[2:]]
    assert not (repo / "results" / "m").exists()
    proc = histbench(repo, "run", "ALL", "--quick", "-b", "track", "--shard", "2/2",
                     "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    runs = load_all(repo)
    assert set(runs) == {hashes[1], hashes[3]}
    assert {r.name for run in runs.values() for r in run.results} == {"bench_toy.track_work"}


def test_benchmark_failure_exit_code(toy_repo):
    repo, _ = toy_repo([ToyCommit()])
    bench = repo / "benchmarks" / "bench_toy.py"
    bench.write_text(bench.read_text() + "\n\ndef time_broken():\n    raise RuntimeError('x')\n")
    proc = histbench(repo, "run", "HEAD", "--machine", "m")
    assert proc.returncode == 2, proc.stderr
    [run] = load_all(repo).values()
    broken = next(r for r in run.results if r.name == "bench_toy.time_broken")
    assert broken.reason == "raised RuntimeError: x"


def test_range_specs(toy_repo, tmp_path):
    repo, hashes = toy_repo([ToyCommit()] * 6)
    r = Repo(repo)

    def spec(s: str, measured=frozenset()) -> list[str]:
        return [c.hash for c in resolve_range(r, s, branches=["main"], measured=set(measured))]

    assert spec("HEAD~3..HEAD") == hashes[3:]
    assert spec(hashes[2]) == [hashes[2]]
    assert spec("main") == hashes and spec("ALL") == hashes
    assert spec("NEW", {hashes[3]}) == hashes[4:]
    assert spec("NEW") == hashes
    assert spec("EXISTING", {hashes[1], hashes[4]}) == [hashes[1], hashes[4]]
    hashfile = tmp_path / "hashes.txt"
    hashfile.write_text(f"{hashes[5]}\n# comment\n{hashes[0][:10]}\n")
    assert spec(f"HASHFILE:{hashfile}") == [hashes[5], hashes[0]]
    steps = [c.hash for c in resolve_range(r, "ALL", branches=["main"], measured=set(),
                                           steps=3)]
    assert steps == [hashes[0], hashes[2], hashes[5]] or steps == [hashes[0], hashes[3],
                                                                     hashes[5]]


@pytest.mark.parametrize("bad", ["nope..HEAD", "deadbeef"])
def test_bad_range_is_one_line(toy_repo, bad):
    repo, _ = toy_repo([ToyCommit()])
    proc = histbench(repo, "run", bad, "--machine", "m")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert bad in proc.stderr


def test_spaced_and_shard():
    assert spaced(list(range(10)), 4) == [0, 3, 6, 9]
    assert spaced([1, 2], 5) == [1, 2]
    assert shard(list(range(7)), "1/3") == [0, 3, 6]
    assert shard(list(range(7)), "3/3") == [2, 5]


def test_config_repo_and_envs_from_histbench_json(toy_repo, shared_env_dir):
    repo, _ = toy_repo([ToyCommit()])
    config = load_config(repo / "histbench.json")
    assert config.env_dir == shared_env_dir and config.repo_path.resolve() == repo.resolve()


def test_sigterm_kills_the_worker_and_keeps_saved_commits(toy_repo):
    repo, _ = toy_repo([ToyCommit()])
    bench = repo / "benchmarks" / "bench_toy.py"
    bench.write_text(bench.read_text() + "\n\ndef time_sleepy():\n    import time\n"
                     "    time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-m", "histbench", "run", "HEAD", "--machine", "m",
                             "-b", "sleepy"], cwd=repo, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    worker = None
    while time.monotonic() < deadline and worker is None:
        out = subprocess.run(["pgrep", "-f", "worker.py run"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        worker = next((p for p in pids if _is_descendant_of(p, proc.pid)), None)
        time.sleep(0.1)
    assert worker is not None
    started = _start_time(worker)
    proc.terminate()
    proc.wait(timeout=60)
    assert proc.returncode == 130
    # The worker must die (gone, or a zombie awaiting its reaper). Polled rather than
    # checked after a fixed sleep: on a loaded machine the kill can take a moment to land.
    deadline = time.monotonic() + 60
    while _start_time(worker) == started and not _is_zombie(worker):
        assert time.monotonic() < deadline, f"worker {worker} still running after 60 s"
        time.sleep(0.1)


def _session_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


def _is_descendant_of(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
    return False


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot), None once it is gone: tells a
    reused pid from the process it once named."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_results_are_json_files_per_commit(toy_repo):
    repo, hashes = toy_repo([ToyCommit()])
    assert histbench(repo, "run", "HEAD", "--machine", "m").returncode == 0
    [path] = results.iter_result_files(repo / "results", "m")
    data = json.loads(path.read_text())
    assert data["commit"]["hash"] == hashes[0] and data["env_name"].startswith("virtualenv-py")
    assert os.path.basename(path).startswith(hashes[0][:12])


def test_uv_environments(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=60_000)], environment_type="uv")
    proc = histbench(repo, "run", "main", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    runs = load_all(repo)
    assert {r.env_name for r in runs.values()} == {f"uv-py{sys.version_info[0]}."
                                                   f"{sys.version_info[1]}"}
    # Each commit's own code was installed (exact values, not a timing ratio).
    for h, work in zip(hashes, (20_000, 60_000), strict=True):
        tracked = next(r for r in runs[h].results if r.name == "bench_toy.track_work")
        assert set(tracked.samples) == {float(work)}


def test_progress_bar_on_a_terminal_and_plain_lines_in_ci():
    import io

    from histbench.run.progress import Progress

    live = io.StringIO()
    bar = Progress(4, live, live=True)
    bar.position("commit 1/4 abc")
    bar.advance()
    bar.message("abc failed to build")
    assert "\r" in live.getvalue() and "ETA" in live.getvalue()
    assert " 25%" in live.getvalue() and "abc failed to build\n" in live.getvalue()
    plain = io.StringIO()
    ci = Progress(4, plain, live=False)
    ci.position("commit 1/4 abc")
    ci.advance()
    assert plain.getvalue() == "commit 1/4 abc\n"


@pytest.mark.parametrize("broken", [
    "def time_x(:\n    pass\n",                      # a syntax error
    "import toypkg.no_such_module\n",                 # the project (or a dependency) fails
    "raise RuntimeError('cannot set up')\n",          # raises while importing
])
def test_run_fails_when_a_suite_file_does_not_import(toy_repo, broken):
    """Benchmarks that never ran are a failure, as in ``dev``: exit 2, the file named, and
    everything else still measured and saved."""
    repo, hashes = toy_repo([ToyCommit()])
    (repo / "benchmarks" / "bench_bad.py").write_text(broken)
    proc = histbench(repo, "run", "main", "--machine", "m", "--quick")
    assert proc.returncode == 2, proc.stderr
    assert "bench_bad" in proc.stderr and "1 suite files did not import" in proc.stderr
    run = load_all(repo)[hashes[0]]
    assert run.errors and any(r.status == "ok" for r in run.results)


@pytest.mark.parametrize("bad", ["HEAD..HEAD~2", "HEAD..HEAD", "HASHFILE:/dev/zero",
                                 "HASHFILE:{tmp}/binary", "HASHFILE:{tmp}/empty"])
def test_ranges_that_name_nothing_measurable_are_one_line(toy_repo, tmp_path, bad):
    """A range with no commits, or a hash file that is endless, binary or empty, is refused
    in one line (before: 0 commits and exit 0, or reading until memory ran out)."""
    repo, _ = toy_repo([ToyCommit(), ToyCommit(), ToyCommit()])
    (tmp_path / "binary").write_bytes(b"\x00\xff" * 100)
    (tmp_path / "empty").write_text("# nothing here\n")
    spec = bad.format(tmp=tmp_path)
    proc = histbench(repo, "run", spec, "--machine", "m")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and spec.split(":")[-1] in proc.stderr
    assert not (repo / "results" / "m").exists() or not list((repo / "results" / "m").glob(
        "*-*.json"))


@pytest.mark.parametrize("content", ["{", "[1]", '{"env": [1]}'])
def test_a_damaged_calibration_file_stops_the_run_before_measuring(toy_repo, content):
    """calibration.json holds the level results are normalised to: starting afresh would
    put a false step into the history, so a damaged one is refused, in one line."""
    repo, hashes = toy_repo([ToyCommit()])
    calibration = repo / "results" / "m" / "calibration.json"
    calibration.parent.mkdir(parents=True)
    calibration.write_text(content)
    proc = histbench(repo, "run", "main", "--machine", "m", "--quick")
    assert proc.returncode == 1 and "calibration.json" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and calibration.read_text() == content
    assert not list(calibration.parent.glob("*-*.json"))
