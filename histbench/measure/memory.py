"""What mem_ and peakmem_ benchmarks report: bytes reachable, and the process's peak RSS.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import gc
import sys
import types


def deep_size(obj) -> int:
    """Bytes reachable from ``obj``, counting each object once.

    Modules, classes and functions are shared program structure, not data the benchmark
    built, so the walk stops at them (as asv's pympler-based mem_ does).
    """
    seen: set[int] = set()
    total = 0
    stack = [obj]
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
            types.CodeType, types.FrameType)
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, skip):
            continue
        seen.add(id(item))
        size = sys.getsizeof(item)
        if type(item).__name__ == "ndarray":  # a view or unpickled array: count its data
            size = max(size, int(getattr(item, "nbytes", 0)))
        total += size
        stack.extend(gc.get_referents(item))
    return total


def max_rss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)

