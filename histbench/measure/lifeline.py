"""The worker dies with its parent: a SIGKILL of histbench must not leave a hung benchmark
running for ever, past a timeout nobody is left to enforce.

Linux only (prctl's parent-death signal), standard library only, Python 3.7 and up; on any
other platform, or where prctl cannot be called, the worker runs as before.
"""

import ctypes
import os
import signal
import sys

PARENT_ENV = "HISTBENCH_PARENT_PID"  # set by the parent that starts the worker
_PR_SET_PDEATHSIG = 1


def _prctl(option, value):
    """prctl(2) through libc; False where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def die_with_parent():
    """SIGKILL this process when the thread that started it goes away.

    The signal follows the parent *thread*: histbench starts workers from the thread that
    waits for them, so that is the one that matters. The parent may have died before the
    prctl ran; then this process has already been re-parented, and it exits now instead.
    The variable is removed so that the processes this one starts (peakmem, timeraw, the
    benchmarks' own) do not check a parent that is not theirs."""
    expected = os.environ.pop(PARENT_ENV, "")
    if not _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL):
        return
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(70)
