"""Work spread over forked processes: reading result files, detecting steps, rendering
pages, importing asv results.

Forked workers start at once and inherit what the parent has loaded (modules, results,
a whole site), so the work items can be small (an index, a path) instead of pickled
copies of the data. Where a platform cannot fork, the work runs in this process: same
results, one core.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_SHARED: Any = None  # what fork_map's caller handed to its workers


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def shared() -> Any:
    """In a function run by ``fork_map``: the ``shared`` object its caller handed over."""
    return _SHARED


def fork_map(function: Callable[[Any], Any], items: Sequence, jobs: int, *,
             shared: Any = None, meanwhile: Callable[[], object] | None = None) -> list:
    """``[function(item) for item in items]``, by ``jobs`` forked processes when there is
    more than one item (in order; an exception in a worker is raised here).

    ``shared`` is what ``processes.shared()`` returns in the workers. ``meanwhile`` runs in
    a thread of this process while they work, once they are forked (a fork must not copy
    a thread in the middle of an import), for work this process would otherwise do later
    alone (after the items when they run here)."""
    global _SHARED
    _SHARED = shared
    try:
        if jobs <= 1 or len(items) < 2 or not can_fork():
            out = [function(item) for item in items]
            if meanwhile:
                meanwhile()
            return out
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            pending = pool.map(function, items)  # submits everything: forks the workers
            helper = threading.Thread(target=meanwhile) if meanwhile else None
            if helper:
                helper.start()
            try:
                return list(pending)
            finally:
                if helper:
                    helper.join()
    finally:
        _SHARED = None
