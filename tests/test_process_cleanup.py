"""Nothing a run started outlives it: not the children a benchmark starts (in a session of
their own, as daemons, or plainly left running), nor a hung worker whose histbench was
SIGKILLed. Real processes, each child marked with a path under tmp_path so that a
survivor is found by its command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from toyrepo import ToyCommit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="parent-death signal and subreaper are Linux's")

DEADLINE = 30.0

# Each child writes its pid beside its marker path, then sleeps: the spawner waits for the
# file, so a child is known to be running before the benchmark goes on.
# A child that writes its pid beside its marker path and sleeps, and a double-forking
# daemon that starts one: what the suites below start.
CHILDREN = '''
import os, subprocess, sys, time

OUT = {out!r}
CHILD = ("import os, sys, time; p = sys.argv[1]; open(p + '.tmp', 'w').write(str(os.getpid()));"
         " os.replace(p + '.tmp', p); time.sleep(300)")
DAEMON = ("import os, sys\\n"
          "if os.fork() == 0:\\n"
          "    os.setsid()\\n"
          "    if os.fork() == 0:\\n"
          "        os.execv(sys.executable, [sys.executable, '-c', sys.argv[1], sys.argv[2]])\\n"
          "    os._exit(0)\\n"
          "os.wait()\\n")
'''

SPAWNING_SUITE = CHILDREN + '''
_count = [0]


def spawn(where, how):
    _count[0] += 1
    marker = os.path.join(OUT, "%s-%s-%d-%d.pid" % (where, how, os.getpid(), _count[0]))
    if how == "daemon":
        subprocess.Popen([sys.executable, "-c", DAEMON, CHILD, marker]).wait()
    else:
        subprocess.Popen([sys.executable, "-c", CHILD, marker],
                         start_new_session=(how == "session"))
    deadline = time.monotonic() + 30
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)


def spawn_all(where):
    for how in ("session", "daemon", "plain"):
        spawn(where, how)


spawn_all("import")  # discovery and every worker import this file
_spawned = set()


def once(where):
    """Once a process, not once a timing loop."""
    if where not in _spawned:
        _spawned.add(where)
        spawn_all(where)


def setup_cache():
    spawn_all("cache")
    return 1


class Spawns:
    def setup(self, cached):
        once("setup")

    def time_spawns(self, cached):
        once("timed")


def track_spawns(cached):
    once("track")
    return 1
'''

HANGING_SUITE = '''
import os, time

def time_hang():
    path = {pidfile!r}
    open(path + ".tmp", "w").write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(300)
'''


def _alive(pid: int) -> bool:
    """Running, not a zombie (a zombie whose parent died is init's to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _reap_if_ours(pid: int) -> None:
    """A process re-parented to this test process (a subreaper, if an in-process run made
    it one) is a zombie of ours once dead."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _marked(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _survivors(pids: list[int], marker: str) -> list[int]:
    """Those still running after a generous deadline (empty as soon as none is)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        for pid in pids:
            _reap_if_ours(pid)
        left = sorted(set(p for p in pids if _alive(p)) | set(_marked(marker)))
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _kill_all(pids: list[int]) -> None:
    """So that a failing test does not leak either."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _project(tmp_path: Path, suite: str) -> Path:
    project = tmp_path / "project"
    (project / "benchmarks").mkdir(parents=True)
    (project / "benchmarks" / "bench_children.py").write_text(suite)
    return project


def _histbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "histbench", *args]


def _pids(out: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in out.glob("*.pid")}


def test_dev_leaves_no_child_running(tmp_path):
    out = tmp_path / "children"
    out.mkdir()
    project = _project(tmp_path, SPAWNING_SUITE.format(out=str(out)))
    proc = subprocess.run(_histbench("dev", "--quick"), cwd=project, capture_output=True,
                          text=True, timeout=300)
    pids = _pids(out)
    left = _survivors(list(pids.values()), str(out))
    _kill_all(left)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kinds = {"-".join(name.split("-")[:2]) for name in pids}
    assert kinds == {f"{where}-{how}" for where in ("import", "cache", "setup", "timed", "track")
                     for how in ("session", "daemon", "plain")}
    assert not left, f"still running: {left}"


def _wait_for(path: Path, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the benchmark never started"
        time.sleep(0.05)
    return int(path.read_text())


def _sigkill_while_hung(cmd: list[str], cwd: Path, pidfile: Path) -> None:
    """Start ``cmd``, SIGKILL it once the hanging benchmark runs; its worker must die."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker = None
    try:
        worker = _wait_for(pidfile, proc)
        assert _alive(worker)
        proc.kill()
        proc.communicate(timeout=60)
        left = _survivors([worker], str(pidfile))
        assert not left, f"worker {worker} outlived a SIGKILLed histbench"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if worker is not None:
            _kill_all([worker])


def test_worker_dies_with_a_sigkilled_dev(tmp_path):
    pidfile = tmp_path / "worker.pid"
    project = _project(tmp_path, HANGING_SUITE.format(pidfile=str(pidfile)))
    _sigkill_while_hung(_histbench("dev", "--quick"), project, pidfile)


def test_worker_dies_with_a_sigkilled_run(toy_repo, tmp_path):
    repo, _ = toy_repo([ToyCommit()])
    pidfile = tmp_path / "worker.pid"
    (repo / "benchmarks" / "bench_hang.py").write_text(
        textwrap.dedent(HANGING_SUITE.format(pidfile=str(pidfile))))
    _sigkill_while_hung(_histbench("run", "main", "--machine", "m", "-b", "time_hang"),
                        repo, pidfile)


# Spawns a child in a session of its own and a double-forked daemon, then hangs: the
# tree below a worker, or below a build, that histbench is SIGKILLed in the middle of.
SPAWN_AND_HANG = CHILDREN + '''


def _wait(path):
    while not os.path.exists(path):
        time.sleep(0.01)


def spawn_and_hang():
    session = os.path.join(OUT, "session.pid")
    daemon = os.path.join(OUT, "daemon.pid")
    subprocess.Popen([sys.executable, "-c", CHILD, session], start_new_session=True)
    subprocess.Popen([sys.executable, "-c", DAEMON, CHILD, daemon]).wait()
    _wait(session)
    _wait(daemon)
    CHILD_SELF = os.path.join(OUT, "hung.pid")
    open(CHILD_SELF + ".tmp", "w").write(str(os.getpid()))
    os.replace(CHILD_SELF + ".tmp", CHILD_SELF)
    time.sleep(300)
'''


def _sigkill_tree(cmd: list[str], cwd: Path, out: Path) -> None:
    """Start ``cmd``, SIGKILL it once the hung process and its two children run; none of
    the three may outlive it."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids: list[int] = []
    try:
        _wait_for(out / "hung.pid", proc)
        pids = list(_pids(out).values())
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        proc.kill()
        proc.communicate(timeout=60)
        left = _survivors(pids, str(out))
        assert not left, f"outlived a SIGKILLed histbench: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _kill_all(pids)


@pytest.mark.parametrize("where", ["import", "timed"])
def test_a_workers_children_die_with_a_sigkilled_run(toy_repo, tmp_path, where):
    """In the suite's import (discovery's worker) or in the timed call (a measuring one)."""
    repo, _ = toy_repo([ToyCommit()])
    out = tmp_path / "children"
    out.mkdir()
    suite = SPAWN_AND_HANG.format(out=str(out))
    if where == "import":
        suite += "\nspawn_and_hang()\n"
    else:
        suite += "\n\ndef time_spawn():\n    spawn_and_hang()\n"
    (repo / "benchmarks" / "bench_tree.py").write_text(suite)
    _sigkill_tree(_histbench("run", "main", "--machine", "m", "-b", "bench_tree"), repo, out)


def test_a_build_and_its_children_die_with_a_sigkilled_run(toy_repo, tmp_path):
    out = tmp_path / "children"
    out.mkdir()
    script = tmp_path / "hung_build.py"
    script.write_text(SPAWN_AND_HANG.format(out=str(out)) + "\nspawn_and_hang()\n")
    repo, _ = toy_repo([ToyCommit()],
                       build_command=[f"{{python}} {script}"])
    _sigkill_tree(_histbench("run", "main", "--machine", "m"), repo, out)
