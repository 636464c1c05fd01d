"""What the parent writes into a worker's spec file, and the defaults the worker reports.

The parent builds these dicts (run/suite.py, run/worker_process.py, run/settings.py) and
the worker (worker.py) reads them by key in another interpreter, so a key renamed on one
side only would be read as missing, silently: tests/test_suite_run.py checks that the keys
worker.py reads are exactly the keys declared here. Standard library only, and valid on
Python 3.8: the worker loads this file by path in old commits' environments.
"""

from __future__ import annotations

from typing import Any

try:
    from typing import TypedDict
except ImportError:  # Python 3.7, an old commit's env: the worker needs the keys, not types

    class TypedDict(dict):  # type: ignore[no-redef]
        def __init_subclass__(cls, **options: Any) -> None:
            super().__init_subclass__()

# A benchmark attribute the suite does not set, as discovery reports it (asv's names).
MAX_ROUNDS = 1000  # processes per benchmark: a suite's `rounds` or `--rounds` past it never ends

DEFAULTS: dict[str, Any] = {
    "timeout": None,  # the parent applies the config's default_timeout
    "number": 0,  # 0: calibrated to sample_time; 1 with setup hooks (asv#966, timing.py)
    "repeat": 0,  # 0: automatic, see timing._repeat_bounds
    "warmup_time": -1.0,  # negative: the worker's own default
    "sample_time": 0.01,
    "rounds": 4,  # asv uses 2; see README: processes, not samples, bound a test's power
    "min_run_count": 2,
}


class DiscoverSpec(TypedDict):
    """``worker.py discover``: describe the suite into ``out_file``."""

    benchmark_dir: str
    out_file: str


class SetupCacheSpec(TypedDict):
    """``worker.py setup_cache``: pickle one benchmark's setup_cache value into
    ``out_file`` (and its status beside it)."""

    benchmark_dir: str
    name: str
    out_file: str


class GaugeConfig(TypedDict, total=False):
    """The disturbance gauge (measure/disturbance.py)."""

    enabled: bool
    level: float | None  # the quietest reference time earlier rounds saw
    wait: float  # seconds a round may spend waiting out a burst


class EnergyConfig(TypedDict, total=False):
    powercap_root: str
    watts_per_core: float


class RunConfig(TypedDict, total=False):
    """Run-wide overrides of the suite's timing attributes, and what the parent keeps
    across rounds: calibrated loop counts per parameter set (``numbers``, keyed by the
    parameter-set index as text) and the gauge's quiet level. A known count is not an
    explicit ``number``: a time_ benchmark with setup hooks ignores it (its number is 1)."""

    rounds: int
    gauge: GaugeConfig
    numbers: dict[str, int]
    repeat: Any  # an int, or [min, max, seconds]
    warmup_time: float
    sample_time: float
    number: int
    energy: EnergyConfig


class InstructionsConfig(TypedDict, total=False):
    """Instruction-count mode (measure/instructions.py, run/valgrind.py): how the counts
    are taken (``method``: "shim" or "differential"), the compiled shim, the folder
    callgrind dumps into, and the valgrind command prefix (which the differential method
    runs its count processes under). A count process (``worker.py count``) also gets how
    many batches of the fixture it runs, and in how many of them it calls the benchmark."""

    method: str
    shim: str | None
    out_dir: str
    command: list[str]
    batches: int
    counted: int


class RunSpec(TypedDict):
    """``worker.py run`` (and ``peakmem`` and ``count``, with one index): one round of one
    benchmark for some of its parameter sets, events appended to ``events_file``; with
    ``instructions``, its time_ benchmark is counted in instructions under Valgrind."""

    benchmark_dir: str
    name: str
    param_indices: list[int]
    cache_file: str | None  # setup_cache's pickle, if the benchmark has one
    events_file: str
    config: RunConfig
    instructions: InstructionsConfig | None  # None: time mode (the default)
