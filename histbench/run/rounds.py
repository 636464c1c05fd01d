"""Running worker processes: one round of one benchmark, with timeouts and crash recovery.

Every round is a fresh process so that between-process variance (hash seeds, ASLR, memory
layout) is sampled rather than frozen in. The parent owns the clock: a benchmark that hangs
is killed with its whole process group, one that segfaults or calls ``os._exit`` is
recorded as failed with the tail of its output, and the remaining parameter sets are run in
a new process so one bad combination does not take the others down with it.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.measure import WORKER_SCRIPT, disturbance
from histbench.run.suite import BenchmarkSpec
from histbench.store.results import BenchmarkResult, Disturbance

TAIL_CHARS = 2000
POLL_SECONDS = 0.05


@dataclass
class Settings:
    """Overrides of the suite's timing attributes for a whole run (None = the suite's own)."""

    rounds: int | None = None
    repeat: Any = None
    number: int | None = None
    warmup_time: float | None = None
    sample_time: float | None = None
    energy: dict[str, Any] | None = None  # powercap_root, watts_per_core
    # Leave out samples taken while the machine was disturbed, and wait out bursts for
    # up to disturbance_wait seconds a round (disturbance.py); False counts every sample.
    reject_disturbed: bool = True
    disturbance_wait: float | None = None

    @classmethod
    def quick(cls) -> Settings:
        """One sample of one call: a smoke test that every benchmark still runs."""
        return cls(rounds=1, repeat=1, number=1, warmup_time=0.0, disturbance_wait=0.0)

    def rounds_for(self, bench: BenchmarkSpec) -> int:
        return max(1, self.rounds if self.rounds is not None else bench.rounds)

    def worker_config(self, bench: BenchmarkSpec, numbers: dict[int, int],
                      quiet: QuietLevel | None = None) -> dict[str, Any]:
        """``numbers``: loop counts calibrated earlier, per parameter set, reused so that
        every round and every commit times the same amount of work."""
        gauge: dict[str, Any] = {"enabled": self.reject_disturbed,
                                 "level": quiet.seconds if quiet else None}
        if self.disturbance_wait is not None:
            gauge["wait"] = self.disturbance_wait
        cfg: dict[str, Any] = {"rounds": self.rounds_for(bench), "gauge": gauge,
                               "numbers": {str(i): n for i, n in numbers.items()}}
        for key in ("repeat", "warmup_time", "sample_time", "number", "energy"):
            value = getattr(self, key)
            if value is not None:
                cfg[key] = value
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class QuietLevel:
    """The machine's quiet speed, as reference-loop seconds, for one run in one environment.

    ``seconds``: the quietest level seen so far, which rejection judges against, so that a
    round spent entirely in a burst is judged against the machine's quiet speed, not
    against itself. ``anchor``: the level samples are normalised to. It never changes
    during a run (a level that dropped half-way would scale every later commit down: a
    false step), and the runner keeps it across runs of the machine and environment
    (calibration.json), so that nightly runs share one scale.
    """

    seconds: float | None = None
    anchor: float | None = None

    def update(self, outcomes: dict[int, Outcome]) -> None:
        for out in outcomes.values():
            self.seconds = disturbance.quiet_level(out.references, self.seconds)
        if self.anchor is None:
            self.anchor = self.seconds


@dataclass
class Outcome:
    """What one process said (or did not say) about one parameter set."""

    status: str
    samples: list[float] = field(default_factory=list)
    number: int | None = None
    reason: str | None = None
    stderr_tail: str | None = None
    started_at: float | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    references: list[float] = field(default_factory=list)
    cpu_shares: list[float | None] = field(default_factory=list)  # None: too short to tell

    def disturbed(self, quiet: QuietLevel, typical_share: float | None = None) -> list[bool]:
        return disturbance.disturbed(self.references, self.cpu_shares, quiet.seconds,
                                     typical_share)

    def all_disturbed(self, quiet: QuietLevel) -> bool:
        """A timing process without one undisturbed sample: worth running again."""
        flags = self.disturbed(quiet)
        return self.status == "ok" and bool(flags) and all(flags)


@dataclass
class ProcessEnv:
    """Where and how workers run: the interpreter of the environment under test."""

    python: str
    benchmark_dir: Path
    env: dict[str, str] | None = None
    workdir: Path | None = None


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL_CHARS))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _death_reason(returncode: int, log: Path) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = {"SIGSEGV": " (segmentation fault)", "SIGABRT": " (abort)",
                "SIGKILL": " (killed, out of memory?)"}.get(name, "")
        return f"crashed with {name}{what}"
    lines = [ln for ln in _tail(log).splitlines() if ln.strip()]
    last = f": {lines[-1].strip()[:200]}" if lines else ""
    return f"worker exited with status {returncode}{last}"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _EventReader:
    """Reads complete JSON lines the worker appended since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]


RERUNS = 1  # times a round is run again when its process never saw a quiet moment


def run_round(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int], settings: Settings,
              *, numbers: dict[int, int] | None = None, cache_file: Path | None = None,
              quiet: QuietLevel | None = None) -> list[dict[int, Outcome]]:
    """Run one round of ``bench`` for the given parameter-set indices, each in this round's
    process; a process that dies takes only its in-flight parameter set with it.

    A parameter set whose every sample was disturbed (a burst outlasted the worker's
    wait) is run again in a new process, at most ``RERUNS`` times; every process is
    returned, one dict each, so nothing measured is lost.
    """
    quiet = quiet if quiet is not None else QuietLevel()
    processes: list[dict[int, Outcome]] = []
    todo = list(indices)
    for _ in range(RERUNS + 1):
        outcomes = _one_process_each(penv, bench, todo, settings, numbers or {}, cache_file,
                                     quiet)
        quiet.update(outcomes)
        processes.append(outcomes)
        todo = [i for i, o in outcomes.items() if o.all_disturbed(quiet)]
        if not todo or not settings.reject_disturbed:
            break
    return processes


def _one_process_each(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int],
                      settings: Settings, numbers: dict[int, int], cache_file: Path | None,
                      quiet: QuietLevel) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    remaining = list(indices)
    with tempfile.TemporaryDirectory(prefix="histbench-run-", dir=penv.workdir) as tmp:
        attempt = 0
        while remaining:
            attempt += 1
            got = _run_process(penv, bench, remaining, settings, numbers, cache_file,
                               Path(tmp), attempt, quiet)
            outcomes.update(got)
            remaining = [i for i in remaining if i not in outcomes]
    return outcomes


def _run_process(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int],
                 settings: Settings, numbers: dict[int, int], cache_file: Path | None,
                 tmp: Path, attempt: int, quiet: QuietLevel) -> dict[int, Outcome]:
    events_file = tmp / f"events{attempt}.jsonl"
    log = tmp / f"log{attempt}.txt"
    spec = {
        "benchmark_dir": str(penv.benchmark_dir),
        "name": bench.name,
        "param_indices": indices,
        "cache_file": str(cache_file) if cache_file else None,
        "events_file": str(events_file),
        "config": settings.worker_config(bench, numbers, quiet),
    }
    spec_path = tmp / f"spec{attempt}.json"
    spec_path.write_text(json.dumps(spec))
    timeout = float(bench.timeout or 60.0)
    with open(log, "wb") as logf:
        proc = subprocess.Popen([penv.python, str(WORKER_SCRIPT), "run", str(spec_path)], cwd=tmp,
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                env=penv.env, start_new_session=True)
    try:
        return _watch(proc, indices, events_file, log, timeout)
    except BaseException:
        _kill_group(proc)  # Ctrl-C or a kill of the parent must not orphan the worker
        raise


def _watch(proc: subprocess.Popen, indices: list[int], events_file: Path, log: Path,
           timeout: float) -> dict[int, Outcome]:
    """Follow the worker's events; the per-parameter-set deadline restarts at each one."""
    outcomes: dict[int, Outcome] = {}
    reader = _EventReader(events_file)
    inflight: int | None = None
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        returncode = _wait(proc, deadline)
        for event in reader.read():
            index = event["index"]
            if event["event"] == "start":
                inflight, deadline = index, time.monotonic() + timeout
            else:
                outcomes[index] = _outcome(event, log)
                inflight, deadline = None, time.monotonic() + timeout
        if returncode is not None:
            break
        if time.monotonic() >= deadline:
            timed_out = True
            _kill_group(proc)
            break
    _kill_group(proc)  # reap anything the benchmark left behind in its group
    lost = inflight if inflight is not None else next(
        (i for i in indices if i not in outcomes), None)
    if lost is not None and lost not in outcomes:
        reason = (f"timed out after {timeout:g} s" if timed_out
                  else _death_reason(proc.returncode, log))
        outcomes[lost] = Outcome("failed", reason=reason, stderr_tail=_tail(log))
    return outcomes


def _wait(proc: subprocess.Popen, deadline: float) -> int | None:
    try:
        return proc.wait(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        return None


def _outcome(event: dict, log: Path) -> Outcome:
    status = event["status"]
    extra = dict(event.get("extra") or {})
    return Outcome(
        status=status,
        samples=[float(v) for v in event.get("samples", [])],
        number=event.get("number"),
        reason=event.get("reason"),
        stderr_tail=_tail(log) if status == "failed" else None,
        started_at=event.get("started_at"),
        duration=event.get("duration"),
        references=[float(v) for v in extra.pop("references", [])],
        cpu_shares=[None if v is None else float(v) for v in extra.pop("cpu_shares", [])],
        extra=extra,
    )


@dataclass
class CacheOutcome:
    status: str
    path: Path | None = None
    reason: str | None = None
    stderr_tail: str | None = None


def run_setup_cache(penv: ProcessEnv, bench: BenchmarkSpec, tmp: Path) -> CacheOutcome:
    """setup_cache runs once, in its own process, and its value is pickled for the rounds."""
    key = bench.setup_cache_key or bench.name
    stem = "".join(c if c.isalnum() else "_" for c in key)
    out = tmp / f"cache_{stem}.pickle"
    spec_path = tmp / f"cache_{stem}.json"
    spec_path.write_text(json.dumps({"benchmark_dir": str(penv.benchmark_dir),
                                     "name": bench.name, "out_file": str(out)}))
    log = tmp / f"cache_{stem}.log"
    timeout = float(bench.setup_cache_timeout or bench.timeout or 60.0)
    with open(log, "wb") as logf:
        proc = subprocess.Popen([penv.python, str(WORKER_SCRIPT), "setup_cache", str(spec_path)],
                                cwd=tmp, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, env=penv.env, start_new_session=True)
    if _wait(proc, time.monotonic() + timeout) is None and _wait_long(proc, timeout) is None:
        _kill_group(proc)
        return CacheOutcome("failed", reason=f"setup_cache timed out after {timeout:g} s",
                            stderr_tail=_tail(log))
    status_file = Path(str(out) + ".status")
    if proc.returncode != 0 or not status_file.exists():
        reason = _death_reason(proc.returncode, log)
        lines = [ln for ln in _tail(log).splitlines() if ln.strip()]
        if proc.returncode > 0 and lines:
            reason = f"setup_cache raised {lines[-1].strip()[:200]}"
        return CacheOutcome("failed", reason=reason, stderr_tail=_tail(log))
    status = json.loads(status_file.read_text())
    if status["status"] == "skipped":
        return CacheOutcome("skipped", reason="setup_cache raised NotImplementedError")
    return CacheOutcome("ok", path=out)


def _wait_long(proc: subprocess.Popen, timeout: float) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def combine(bench: BenchmarkSpec, rounds: list[dict[int, Outcome]],
            quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """Fold the rounds of one benchmark into one result per parameter set.

    Samples stay grouped by process; a parameter set that failed in any round is reported
    failed (a flaky benchmark should be seen, not averaged over). Samples the machine
    disturbed are set aside by the rule of disturbance.py, judged against ``quiet``.
    """
    quiet = quiet if quiet is not None else QuietLevel()
    results = []
    for index, params in enumerate(bench.param_sets()):
        outs = [r[index] for r in rounds if index in r]
        result = BenchmarkResult(
            name=bench.name, kind=bench.kind, params=params, param_index=index,
            unit=bench.unit, version=bench.version, higher_is_better=bench.higher_is_better,
        )
        failed = next((o for o in outs if o.status == "failed"), None)
        skipped = next((o for o in outs if o.status == "skipped"), None)
        if failed or skipped or not outs:
            bad = failed or skipped
            result.status = bad.status if bad else "failed"
            result.reason = bad.reason if bad else "not run"
            result.stderr_tail = bad.stderr_tail if bad else None
        else:
            _split_disturbed(result, outs, quiet)
            result.number = outs[0].number
            energy = [o.extra["energy"] for o in outs if o.extra.get("energy")]
            if energy:
                result.extra["energy"] = combine_energy(energy)
            result.started_at = outs[0].started_at
            result.duration = sum(o.duration or 0.0 for o in outs)
            result.with_stats()
        results.append(result)
    return results


def _split_disturbed(result: BenchmarkResult, outs: list[Outcome], quiet: QuietLevel) -> None:
    """Undisturbed samples, normalised, for the statistics; every sample kept beside them
    in measured order, with the record of how much the machine interfered. A process
    with no quiet sample adds none; when no process had one, every sample is used and
    the result says so (``fallback``)."""
    if not any(o.references for o in outs):  # no gauge: other kinds, or --keep-disturbed
        result.process_samples = [o.samples for o in outs]
        return
    typical = disturbance.typical_share([v for o in outs for v in o.cpu_shares])
    flags = [o.disturbed(quiet, typical) for o in outs]
    scaled = [disturbance.normalised(o.samples, o.references, quiet.anchor) for o in outs]
    clean = [[v for v, bad in zip(values, f, strict=True) if not bad]
             for values, f in zip(scaled, flags, strict=True)]
    fallback = not any(clean)
    result.process_samples = scaled if fallback else [g for g in clean if g]
    result.measured_samples = [o.samples for o in outs]
    result.process_references = [o.references for o in outs]
    result.process_cpu_shares = [o.cpu_shares for o in outs]
    slowdowns = _slowdowns(outs, quiet.seconds)
    result.disturbance = Disturbance(
        samples=sum(len(o.samples) for o in outs), rejected=sum(map(sum, flags)),
        slowdown=statistics.median(slowdowns) if slowdowns else 1.0,
        worst=max(slowdowns, default=1.0), reference_level=quiet.seconds,
        normalised_to=quiet.anchor, fallback=fallback)


def _slowdowns(outs: list[Outcome], level: float | None) -> list[float]:
    """The machine's slowness during each sample: the slower reference beside it over the
    quiet level."""
    if not level:
        return []
    return [disturbance.beside(o.references, i) / level
            for o in outs if len(o.references) == len(o.samples) + 1
            for i in range(len(o.samples))]


def combine_energy(per_process: list[dict[str, Any]]) -> dict[str, Any]:
    """Joules per call over the rounds: the median, the values, and whether any of them is
    an estimate (one estimated round makes the whole figure an estimate)."""
    median = statistics.median(e["joules_per_call"] for e in per_process)
    estimated = any(e.get("estimated", True) for e in per_process)
    out = {"joules_per_call": median, "per_process": [e["joules_per_call"]
                                                      for e in per_process],
           "estimated": estimated,
           "source": "cpu-time estimate" if estimated else per_process[0]["source"]}
    watts = [e["watts_per_core"] for e in per_process if "watts_per_core" in e]
    if watts:
        out["watts_per_core"] = watts[0]
    return out


def remember_numbers(numbers: dict[int, int], outcome: dict[int, Outcome]) -> None:
    for index, out in outcome.items():
        if out.number and index not in numbers:
            numbers[index] = out.number


def failed_results(bench: BenchmarkSpec, status: str, reason: str,
                   tail: str | None = None) -> list[BenchmarkResult]:
    """Every parameter set of a benchmark marked with one reason (setup_cache failed, ...)."""
    return [BenchmarkResult(name=bench.name, kind=bench.kind, params=p, param_index=i,
                            unit=bench.unit, version=bench.version,
                            higher_is_better=bench.higher_is_better, status=status,
                            reason=reason, stderr_tail=tail)
            for i, p in enumerate(bench.param_sets())]


def run_benchmark(penv: ProcessEnv, bench: BenchmarkSpec, settings: Settings, tmp: Path,
                  caches: dict[str, CacheOutcome], *, numbers: dict[int, int] | None = None,
                  quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """All rounds of one benchmark, back to back (the runner interleaves across commits)."""
    cache = setup_cache_for(penv, bench, caches, tmp)
    if cache is not None and cache.status != "ok":
        return failed_results(bench, cache.status, cache.reason or "", cache.stderr_tail)
    numbers = {} if numbers is None else numbers
    quiet = quiet if quiet is not None else QuietLevel()
    rounds: list[dict[int, Outcome]] = []
    for _ in range(settings.rounds_for(bench)):
        indices = surviving(bench, rounds)
        if not indices:
            break
        for outcome in run_round(penv, bench, indices, settings, numbers=numbers,
                                 cache_file=cache.path if cache else None, quiet=quiet):
            rounds.append(outcome)
            remember_numbers(numbers, outcome)
    return combine(bench, rounds, quiet)


def setup_cache_for(penv: ProcessEnv, bench: BenchmarkSpec, caches: dict[str, CacheOutcome],
                    tmp: Path) -> CacheOutcome | None:
    """The benchmark's setup_cache outcome, run on first use and shared by every benchmark
    with the same key; None when it has no setup_cache."""
    if not bench.setup_cache_key:
        return None
    if bench.setup_cache_key not in caches:
        caches[bench.setup_cache_key] = run_setup_cache(penv, bench, tmp)
    return caches[bench.setup_cache_key]


def surviving(bench: BenchmarkSpec, rounds: list[dict[int, Outcome]]) -> list[int]:
    """Parameter sets that have not failed or been skipped in any round so far: a later
    round would only fail them again."""
    return [i for i in range(len(bench.param_sets()))
            if all(rd[i].status == "ok" for rd in rounds if i in rd)]


def run_suite(penv: ProcessEnv, benchmarks: list[BenchmarkSpec], settings: Settings,
              progress: Callable[[int, int, BenchmarkSpec], None] | None = None,
              numbers: dict[str, dict[int, int]] | None = None,
              quiet: QuietLevel | None = None) -> list[BenchmarkResult]:
    """Run every benchmark; ``numbers`` (benchmark -> parameter set -> loops) carries
    calibrated loop counts to reuse and is filled in with new ones; ``quiet`` the
    machine's quiet speed, shared with the caller's other runs."""
    numbers = {} if numbers is None else numbers
    quiet = quiet if quiet is not None else QuietLevel()
    results: list[BenchmarkResult] = []
    caches: dict[str, CacheOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="histbench-suite-", dir=penv.workdir) as tmp:
        for i, bench in enumerate(benchmarks):
            if progress:
                progress(i, len(benchmarks), bench)
            known = numbers.setdefault(bench.name, {})
            results.extend(run_benchmark(penv, bench, settings, Path(tmp), caches, numbers=known,
                                         quiet=quiet))
    return results
