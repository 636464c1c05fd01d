"""Which timing samples were taken while the machine was disturbed: the one rule.

Standard library only, because the worker loads this file by path inside benchmark
environments of any age; the parent applies the same rule when it folds rounds into a
result, so the worker's "keep sampling through a burst" and the stored verdict agree.

On shared machines (CI runners, cloud VMs) a process runs at full speed, then for
seconds at half speed or worse, then at full speed again. Two things give such a moment
away, and each catches what the other misses:

* **The reference loop.** A fixed pure-Python loop (``REFERENCE_LOOPS`` iterations) is
  timed before the first sample and after every sample. The same work in every process
  and commit, so when it runs slow the *machine* is slow: the hypervisor gave the core to
  another VM (steal time, which nothing inside the VM reports). A sample is disturbed
  when either reference beside it is more than ``TOLERANCE`` slower than the quiet
  level: the lowest lower quartile of the references of any process of the run (a
  quartile, not the minimum, so one lucky reading does not make every other look slow).
* **The CPU share.** Process CPU time over wall time during the sample. A neighbour
  inside the same VM (another job on the runner) takes the CPU in scheduler slices,
  short enough that a 1 ms reference can fall between them while a 10 ms sample cannot;
  but the sample's CPU share drops. A sample is disturbed when its share is below
  ``MIN_CPU_SHARE`` of the benchmark's typical share: the highest share any of its
  samples reached (a benchmark that sleeps or waits on I/O never reaches 1, and is
  judged against itself).

The samples left are then **normalised**: scaled by a fixed level over the median of the
``WINDOW`` references nearest each one. Rejection lets through a machine up to
``TOLERANCE`` slow, drifting over seconds; the nearby references show how slow it was.
(The runner keeps that level fixed across runs: see ``execute.QuietLevel``.)

Measured on this project's 2-core VMs, a 0.8 ms CPU-bound benchmark measured 40 times
(4 processes each) with bench/noise.py loading both cores and other test suites running:
the median of a measurement varied by CV 17.8% (max/min 1.81) with every sample counted,
3.1% (1.14) with disturbed samples left out, and 1.4% (1.06) left out and normalised.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

REFERENCE_LOOPS = 20_000  # about 1 ms of pure Python on a 2020s core
TOLERANCE = 0.2  # a reference this much slower than the quiet level means a slow machine
MIN_CPU_SHARE = 0.9  # a sample with less of its usual CPU share lost the CPU to someone
WAIT_SECONDS = 10.0  # disturbed time a round may spend waiting for quiet samples
WINDOW = 6  # references around a sample whose median says how slow the machine was
MIN_SHARE_SECONDS = 1e-3  # a shorter sample has no CPU share (None): timer cost dominates


def reference_seconds(timer) -> float:
    """Seconds for the fixed reference loop: the machine's speed right now.

    With the garbage collector off: a collection of the benchmark's garbage landing in
    the loop would make the benchmark, not the machine, look slow."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = timer()
        x = 0
        for i in range(REFERENCE_LOOPS):
            x += i * i
        return timer() - start
    finally:
        if was_enabled:
            gc.enable()


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quiet_level(references: Sequence[float], known: float | None = None) -> float | None:
    """The reference time of an undisturbed machine: the lower quartile of what was seen,
    or a quieter level seen earlier in the run."""
    if not references:
        return known
    level = _quantile(references, 0.25)
    return min(level, known) if known else level


def typical_share(cpu_shares: Sequence[float | None]) -> float:
    """A benchmark's CPU share when nothing takes the CPU from it: the highest it reached.

    Contention only ever lowers a share, so the highest one is the undisturbed one; any
    lower quantile fails when most samples were contended (a neighbour busy throughout).
    """
    return max((s for s in cpu_shares if s is not None), default=0.0)


def normalised(samples: Sequence[float], references: Sequence[float], level: float | None
               ) -> list[float]:
    """Each sample at one fixed speed of the machine: scaled by ``level`` over the median
    of the ``WINDOW`` references nearest to it.

    What rejection lets through is a machine up to ``TOLERANCE`` slow, and that drifts
    over seconds; the median of nearby references follows the drift without the jitter
    of a single reading. Without references, the samples as they were.
    """
    if not level or len(references) != len(samples) + 1:
        return list(samples)
    out = []
    for j, value in enumerate(samples):
        near = sorted(references[max(0, j - WINDOW // 2 + 1):j + WINDOW // 2 + 1])
        out.append(value * level / near[len(near) // 2])
    return out


def beside(references: Sequence[float], i: int) -> float:
    """The slower of the two references around sample ``i``: how slow the machine was."""
    return max(references[i], references[i + 1])


def sample_disturbed(slower_reference: float | None, share: float | None,
                     level: float | None, typical: float, *, tolerance: float = TOLERANCE,
                     min_share: float = MIN_CPU_SHARE) -> bool:
    """The rule for one sample: a slow machine beside it, or a lost share of the CPU."""
    slow = bool(level) and slower_reference is not None and \
        slower_reference > level * (1 + tolerance)
    return slow or (share is not None and share < min_share * typical)


def disturbed(references: Sequence[float], cpu_shares: Sequence[float | None],
              level: float | None, typical: float | None = None, *,
              tolerance: float = TOLERANCE,
              min_share: float = MIN_CPU_SHARE) -> list[bool]:
    """Per sample, whether it was taken on a disturbed machine.

    ``references`` has one more entry than ``cpu_shares`` (one before the first sample,
    one after each); without references (an old worker, or the check turned off) only
    the CPU share decides, and without either nothing is disturbed. A share of None (a
    sample under ``MIN_SHARE_SECONDS``) is not judged. ``typical``: the
    benchmark's typical CPU share over all its processes (a process that spent its whole
    life in a burst has no quiet share of its own to compare with); by default, this
    process's own.
    """
    n = len(cpu_shares)
    if typical is None:
        typical = typical_share(cpu_shares)
    bracketed = len(references) == n + 1
    return [sample_disturbed(beside(references, i) if bracketed else None, cpu_shares[i],
                             level, typical, tolerance=tolerance, min_share=min_share)
            for i in range(n)]
