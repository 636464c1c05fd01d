"""The benchmark suite as the orchestrator sees it: discovered once, by the worker.

Discovery has to import the user's modules, which import the project, so it runs in a
subprocess with the target interpreter; the parent only ever handles the JSON description.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.measure import WORKER_SCRIPT
from histbench.measure.worker_spec import DEFAULTS, DiscoverSpec
from histbench.run import reaper


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
        what = self.benchmark or Path(self.file).name
        return f"{what}: {self.error}"


@dataclass
class Suite:
    benchmarks: list[BenchmarkSpec]
    errors: list[DiscoveryError] = field(default_factory=list)

    def select(self, patterns: list[str] | None) -> Suite:
        """What the regexes select (all when none given), as asv selects: a benchmark
        without parameters by its name, a parameterised one set by set, by
        ``name(v1, v2)`` (``call_labels``), so that a regex can pick parameter sets."""
        if not patterns:
            return self
        try:
            compiled = [re.compile(p) for p in patterns]
        except re.error as exc:
            raise HistbenchError(f"-b {exc.pattern!r}: not a valid regex ({exc})") from None
        chosen = []
        for bench in self.benchmarks:
            labels = call_labels(bench.name, getattr(bench, "params", None) or [])
            picked = [i for i, label in enumerate(labels)
                      if any(c.search(label) for c in compiled)]
            if len(picked) == len(labels):
                chosen.append(bench)
            elif picked:
                chosen.append(replace(bench, selected=picked))
        return Suite(chosen, self.errors)


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
    benchmarks = [BenchmarkSpec(**b) for b in data["benchmarks"]]
    for bench in benchmarks:
        if bench.timeout is None:
            bench.timeout = default_timeout
    return Suite(benchmarks, [DiscoveryError(**e) for e in data["errors"]])


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
