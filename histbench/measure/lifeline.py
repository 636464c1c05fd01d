"""Whatever histbench starts dies with it: a SIGKILL of histbench must not leave a hung
benchmark, a build, or anything they started running for ever, past a timeout nobody is
left to enforce.

Linux's parent-death signal kills one process, and a benchmark's own children (in a
session of their own, double-forked daemons) are not that process. So each worker, and
each build command, runs under a *keeper*: a process that does nothing but wait, made a
child subreaper so that every orphan of the tree below it is re-parented to it, where
``/proc`` shows it. When the keeper's parent dies, its parent-death signal is SIGTERM, and
the keeper kills the whole tree before it goes; the keeper is idle Python, so its handler
runs at once, whatever the benchmark is stuck in. When its command ends, the keeper kills
what the command left behind and exits with the command's status.

Two ways in, one mechanism:
- ``keep_tree()``, called first by the worker: forks; the child goes on as the worker.
- ``python lifeline.py COMMAND...``: runs COMMAND under a keeper (the builds).

Standard library only, Python 3.7 and up; elsewhere than Linux, or where prctl cannot be
called, the command simply runs unguarded.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

PARENT_ENV = "HISTBENCH_PARENT_PID"  # set by the parent that starts the worker
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_KILL_ROUNDS = 500  # of 10 ms: a tree that keeps forking is given 5 s to run out
_ORPHANED = 70  # exit status when the parent was gone before we could watch it


def _prctl(option, value):
    """prctl(2) through libc; False where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def _die_with(parent_pid, sig):
    """Arm the parent-death signal; exit now if the parent already went before it was armed.

    The signal follows the parent *thread*: histbench starts each process from the thread
    that waits for it, so that is the one that matters."""
    if not _prctl(_PR_SET_PDEATHSIG, sig):
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(_ORPHANED)
    return True


def _expected_parent():
    """The pid histbench put in our environment, removed so that the processes we start do
    not check a parent that is not theirs."""
    expected = os.environ.pop(PARENT_ENV, "")
    return int(expected) if expected.isdigit() else None


def _tree(root):
    """(pid, is a zombie) of every process below ``root``, from /proc."""
    parents, zombie = {}, {}
    if not os.path.isdir("/proc"):
        return []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/" + name + "/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        parents[int(name)] = int(fields[1])
        zombie[int(name)] = fields[0] == "Z"
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return [(pid, zombie[pid]) for pid in found]


def _reap_zombies():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree():
    """SIGKILL every process below this one, round after round (a killed parent re-parents
    its children to us, the subreaper), and reap them."""
    me = os.getpid()
    for _ in range(_KILL_ROUNDS):
        below = _tree(me)
        for pid, _ in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_zombies()
        if not any(not is_zombie for _, is_zombie in below):
            return
        time.sleep(0.01)


def _on_parent_death(signum, frame):
    kill_tree()
    os._exit(128 + signum)


def _become_keeper(parent_pid):
    """Arm everything before the command starts; False where Linux's tools are missing."""
    signal.signal(signal.SIGTERM, _on_parent_death)
    if not _die_with(parent_pid, signal.SIGTERM):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return False
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _exit_as(status):
    """Exit the way the command did, so that our parent reads the same status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def keep_tree():
    """Fork: the parent becomes the keeper and never returns; the child returns and goes on
    as the worker, killed outright if the keeper goes. Flushes first: the two must not both
    write what was buffered."""
    parent = _expected_parent()
    if not _become_keeper(parent):
        if parent is not None:  # no subreaper: at least this process dies with histbench
            _die_with(parent, signal.SIGKILL)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    keeper = os.getpid()
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with(keeper, signal.SIGKILL)
        return
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    kill_tree()
    _exit_as(status)


def _arm_child():
    _die_with(None, signal.SIGKILL)


def _let_command_decide(signum, frame):
    """Ctrl-C reaches the command too (one process group): its exit is ours."""


def run_kept(argv):
    """Run ``argv`` (stdio, folder and environment inherited) under a keeper."""
    guarded = _become_keeper(_expected_parent())
    signal.signal(signal.SIGINT, _let_command_decide)  # reset at exec, unlike SIG_IGN
    try:
        proc = subprocess.Popen(argv, preexec_fn=_arm_child if guarded else None)
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]}: {exc}\n")
        return 127
    status = proc.wait()
    kill_tree()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.stderr.write("usage: lifeline.py COMMAND [ARG ...]\n")
        sys.exit(64)
    sys.exit(run_kept(sys.argv[1:]))
