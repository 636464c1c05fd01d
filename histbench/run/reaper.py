"""Nothing a worker started outlives it: descendants are found and killed when it ends.

A benchmark may start children in a session of their own, or as double-forked daemons:
killing the worker's process group misses those, and once their parent is gone they would
be re-parented to init, out of reach. So histbench makes itself a child subreaper (Linux's
prctl(PR_SET_CHILD_SUBREAPER)): every orphan among its descendants is re-parented to it
instead, where ``/proc`` shows it. When a worker ends, each child of ours that started
since that worker did and is not another process still in flight is killed and reaped,
and again for the children those leave behind, until none is left.

The processes started through ``start`` are the ones kept alive, so any caller (a build,
later) that starts its own children can use this module the same way. Workers run one at
a time: a second one in flight at once would lose its own orphans at the first one's end.
Elsewhere than Linux, nothing is re-parented to us and ``reap`` finds nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from histbench.measure import LIFELINE_SCRIPT
from histbench.measure.lifeline import PARENT_ENV

PR_SET_CHILD_SUBREAPER = 36
REAP_SECONDS = 10.0  # how long a SIGKILLed process may take to go before we stop waiting
_POLL = 0.01

_subreaper: bool | None = None
_in_flight: dict[int, int] = {}  # pid -> its start time (clock ticks since boot)


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants, once; False where it cannot."""
    global _subreaper
    if _subreaper is None:
        _subreaper = _set_subreaper()
    return _subreaper


def _set_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def child_env(env: dict[str, str] | None) -> dict[str, str]:
    """The worker's environment, naming us as its parent: it checks that it still has one
    once its parent-death signal is armed (measure/lifeline.py)."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def run_kept(args: list[str], *, env: dict[str, str] | None = None,
             **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run`` under a keeper (measure/lifeline.py), for the builds: a SIGKILL
    of histbench takes the command, and everything it started, with it."""
    keeper = [sys.executable, "-S", "-E", str(LIFELINE_SCRIPT)]
    return subprocess.run([*keeper, *args], env=child_env(env), **kwargs)


def start(args: list[str], **popen: Any) -> subprocess.Popen:
    """Popen in a session of its own (so that its group can be killed as one), as a
    subreaper's child, remembered as in flight until ``finish``."""
    become_subreaper()
    proc = subprocess.Popen(args, start_new_session=True, **popen)
    _in_flight[proc.pid] = _start_ticks(proc.pid) or 0
    return proc


def finish(proc: subprocess.Popen) -> None:
    """Kill the process's group, wait for it, then kill and reap every orphan it left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    since = _in_flight.pop(proc.pid, None)
    if since is not None:  # not finished already
        reap(since)


def reap(since: int) -> list[int]:
    """Kill and reap our children that started at or after ``since`` (clock ticks) and are
    not in flight, round after round, as killing one re-parents its own children to us."""
    killed: list[int] = []
    deadline = time.monotonic() + REAP_SECONDS
    while time.monotonic() < deadline:
        orphans = [pid for pid, ticks in _children() if ticks >= since
                   and pid not in _in_flight]
        if not orphans:
            break
        for pid in orphans:
            _kill(pid)
        for pid in orphans:
            _wait_gone(pid, deadline)
        killed.extend(orphans)
    return killed


def _children() -> list[tuple[int, int]]:
    """(pid, start ticks) of every process whose parent is this one, zombies included."""
    if not os.path.isdir("/proc"):
        return []
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and int(stat[1]) == me:
            found.append((int(entry.name), int(stat[19])))
    return found


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pid: int, deadline: float) -> None:
    """waitpid without blocking past ``deadline``: a process stuck in the kernel must not
    hang the run."""
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() >= deadline:
            return
        time.sleep(_POLL)
