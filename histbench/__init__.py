"""histbench: benchmark a Python project across its git history.

The public Python API is re-exported here lazily (``from histbench import compare,
detect_steps, speedup, pareto_front``): each name imports its module on first use, so
``histbench --help`` and the worker's start-up do not pay for numpy and scipy.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module under histbench that defines it
_EXPORTS = {
    # results on disk
    "load": "store.results", "save": "store.results", "RunResults": "store.results",
    "BenchmarkResult": "store.results", "CommitInfo": "store.results",
    "Disturbance": "store.results", "summarize": "store.samples", "Summary": "store.samples",
    "MachineRecord": "store.machine", "import_asv": "store.asv_import",
    # analysis
    "compare": "analysis.two_sample", "Comparison": "analysis.two_sample",
    "minimum_detectable_effect": "analysis.two_sample",
    "detect_steps": "analysis.steps", "Step": "analysis.steps",
    "load_history": "analysis.series", "History": "analysis.series",
    "Series": "analysis.series",
    "compare_runs": "analysis.run_diff", "Row": "analysis.run_diff",
    "find_changes": "analysis.events", "Change": "analysis.changes",
    "history_events": "analysis.events", "Event": "analysis.events",
    "bisect": "analysis.bisect", "BisectResult": "analysis.bisect",
    "pick_one": "analysis.name_match",
    "speedup": "analysis.metrics", "Speedup": "analysis.metrics",
    "compression_ratio": "analysis.metrics", "accuracy_delta": "analysis.metrics",
    "efficiency": "analysis.metrics", "pareto_front": "analysis.metrics",
    # shared
    "HistbenchError": "core.errors", "Config": "core.config", "load_config": "core.config",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'histbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"histbench.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _install_moved_paths() -> None:
    from histbench.core import moved

    def public(name: str):
        return lambda: __getattr__(name)

    moved.install(__name__, {old: public(old) for old in moved.MOVED if old in _EXPORTS})


_install_moved_paths()
