"""The benchmark suite as the orchestrator sees it: discovered once, by the worker.

Discovery has to import the user's modules, which import the project, so it runs in a
subprocess with the target interpreter; the parent only ever handles the JSON description.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.modes import MODES
from histbench.core.patterns import compile_pattern
from histbench.measure import WORKER_SCRIPT
from histbench.measure.worker_spec import DEFAULTS, MAX_ROUNDS, DiscoverSpec
from histbench.run import reaper
from histbench.store.results import error_line


@dataclass
class BenchmarkSpec:
    """One benchmark (all its parameter sets) with the attributes that steer its timing."""

    name: str
    module: str
    kind: str
    params: list[list[str]] = field(default_factory=list)
    param_names: list[str] = field(default_factory=list)
    unit: str = "seconds"
    pretty_name: str | None = None
    version: str = ""  # asv's: a hash of code, unless the suite sets `version`
    legacy_version: str = ""  # histbench's before it took asv's (results stored then)
    higher_is_better: bool = False
    code: str = ""
    # the worker reports every attribute; these are its defaults, so that a spec made
    # here (from benchmarks.json, in tests) times as a discovered one would
    rounds: int = DEFAULTS["rounds"]
    timeout: float | None = DEFAULTS["timeout"]
    number: int = DEFAULTS["number"]
    repeat: Any = DEFAULTS["repeat"]
    warmup_time: float = DEFAULTS["warmup_time"]
    sample_time: float = DEFAULTS["sample_time"]
    min_run_count: int = DEFAULTS["min_run_count"]
    setup_cache_key: str | None = None
    setup_cache_timeout: float | None = None
    selected: list[int] | None = None  # the parameter sets -b chose; None: every one
    measure: str | None = None  # the suite's ``measure`` attribute (core/modes.py)

    def param_sets(self) -> list[dict[str, str]]:
        """Every combination, in itertools.product order (the index the worker expects)."""
        if not self.params:
            return [{}]
        return [dict(zip(self.param_names, combo, strict=True))
                for combo in itertools.product(*self.params)]

    def chosen(self) -> list[tuple[int, dict[str, str]]]:
        """(index, params) of the parameter sets to run: all, or those -b selected."""
        sets = list(enumerate(self.param_sets()))
        return sets if self.selected is None else [sets[i] for i in self.selected]


def call_labels(name: str, params: list[list[str]]) -> list[str]:
    """asv's spelling of each parameter set, which its -b regexes search: the name, or
    ``name(v1, v2)`` with the values' reprs, in itertools.product order."""
    if not params:
        return [name]
    return [f"{name}({', '.join(combo)})" for combo in itertools.product(*params)]


def describe(benchmarks: list[BenchmarkSpec]) -> dict[str, dict[str, Any]]:
    """name -> source and attributes, as results/benchmarks.json keeps them."""
    return {b.name: {k: v for k, v in vars(b).items() if k not in ("name", "selected")}
            for b in benchmarks}


@dataclass
class DiscoveryError:
    file: str
    error: str
    benchmark: str | None = None
    traceback: str = ""

    def __str__(self) -> str:
        return error_line(vars(self))


@dataclass
class Suite:
    benchmarks: list[BenchmarkSpec]
    errors: list[DiscoveryError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def select(self, patterns: list[str] | None) -> Suite:
        """What the regexes select (all when none given), as asv selects: a benchmark
        without parameters by its name, a parameterised one set by set, by
        ``name(v1, v2)`` (``call_labels``), so that a regex can pick parameter sets."""
        if not patterns:
            return self
        compiled = [compile_pattern(p, "-b ") for p in patterns]
        chosen = []
        for bench in self.benchmarks:
            labels = call_labels(bench.name, getattr(bench, "params", None) or [])
            picked = [i for i, label in enumerate(labels)
                      if any(c.search(label) for c in compiled)]
            if len(picked) == len(labels):
                chosen.append(bench)
            elif picked:
                chosen.append(replace(bench, selected=picked))
        return Suite(chosen, self.errors, self.warnings)


def discover(python: str, benchmark_dir: Path, *, timeout: float = 300.0,
             default_timeout: float = Config.default_timeout,
             env: dict[str, str] | None = None) -> Suite:
    benchmark_dir = Path(benchmark_dir).resolve()
    if not benchmark_dir.is_dir():
        raise HistbenchError(f"{benchmark_dir}: benchmark folder not found")
    with tempfile.TemporaryDirectory(prefix="histbench-discover-") as tmp:
        out = Path(tmp) / "suite.json"
        spec = Path(tmp) / "spec.json"
        request = DiscoverSpec(benchmark_dir=str(benchmark_dir), out_file=str(out))
        spec.write_text(json.dumps(request))
        returncode = _run_discovery([python, str(WORKER_SCRIPT), "discover", str(spec)],
                                    Path(tmp), timeout, env, benchmark_dir)
        if returncode != 0 or not out.exists():
            log = (Path(tmp) / "discover.log").read_text(errors="replace")
            tail = (log.strip().splitlines() or ["no output"])[-1]
            raise HistbenchError(f"{benchmark_dir}: discovery failed: {tail}")
        data = json.loads(out.read_text())
    errors = [DiscoveryError(**e) for e in data["errors"]]
    benchmarks, warnings = [], []
    for described in data["benchmarks"]:
        problem = attribute_problem(described)
        if problem:  # reported, not measured: the rest of the suite still runs
            errors.append(DiscoveryError(file=described.get("module", ""), error=problem,
                                         benchmark=described.get("name")))
            continue
        bench = BenchmarkSpec(**described)
        if bench.timeout is None:
            bench.timeout = default_timeout
        warnings += unstable_params(bench)
        benchmarks.append(bench)
    return Suite(benchmarks, errors, warnings)


MAX_SECONDS = 7 * 24 * 3600.0  # timeout, warmup_time, sample_time


def attribute_problem(described: dict[str, Any]) -> str | None:
    """What in a benchmark's timing attributes cannot be honoured: a ``timeout`` of "soon"
    or NaN would stop the run (and lose what it measured) with a traceback, ``rounds`` of
    1e30 would never end. Such a benchmark is an error of the suite, named; the others
    run."""
    def number(key: str, low: float, high: float, whole: bool = False) -> str | None:
        value = described.get(key)
        if value is None:
            return None
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) \
            and (isinstance(value, int) or not whole)
        if ok:
            try:
                ok = low <= float(value) <= high
            except OverflowError:
                ok = False
        if not ok:
            kind = "a whole number" if whole else "a number"
            return f"{key} = {value!r} is not {kind} from {low:g} to {high:g}"
        return None

    checks = (number("timeout", 1e-3, MAX_SECONDS), number("rounds", 1, MAX_ROUNDS, True),
              number("number", 0, 10**9, True), number("min_run_count", 0, 10**6, True),
              number("sample_time", 0, MAX_SECONDS), number("warmup_time", -1, MAX_SECONDS),
              number("setup_cache_timeout", 1e-3, MAX_SECONDS), _repeat_problem(described))
    found = next((c for c in checks if c), None)
    if found:
        return found
    measure = described.get("measure")
    if measure is not None and measure not in MODES:
        return f"measure = {measure!r} is not one of {', '.join(MODES)}"
    return None


def _repeat_problem(described: dict[str, Any]) -> str | None:
    """``repeat``: a whole number, or asv's (min, max, max_time)."""
    value = described.get("repeat")
    if value is None or (isinstance(value, int) and not isinstance(value, bool)
                         and 0 <= value <= 10**6):
        return None
    if isinstance(value, list) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0 for v in value) and value[0] <= value[1] <= 10**6:
        return None
    return f"repeat = {value!r} is not a whole number or (min, max, max_time)"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def unstable_params(bench: BenchmarkSpec) -> list[str]:
    """Parameter values whose text holds a memory address (``<object object at 0x7f..>``):
    it changes every run, so no two runs' results line up. asv keys them the same way;
    said, since the history silently never forms."""
    found = [v for values in bench.params for v in values if _ADDRESS.search(v)]
    if not found:
        return []
    return [f"{bench.name}: parameter {found[0]} has no stable text (a memory address), so "
            "its results will not line up across runs; give the class a __repr__, or use "
            "plain values"]


def _run_discovery(args: list[str], tmp: Path, timeout: float, env: dict[str, str] | None,
                   benchmark_dir: Path) -> int:
    """The discovery worker's exit status; whatever the suite's imports started is killed
    when it ends. Its output goes to a file, not a pipe, which a process left running
    would hold open."""
    log = tmp / "discover.log"
    try:
        with open(log, "wb") as logf:
            proc = reaper.start(args, cwd=tmp, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, env=reaper.child_env(env))
    except OSError as exc:
        raise HistbenchError(f"{args[0]}: cannot run interpreter ({exc.strerror})") from None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HistbenchError(
            f"{benchmark_dir}: discovery timed out after {timeout:g} s") from None
    finally:
        reaper.finish(proc)
