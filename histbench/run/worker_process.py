"""One worker process, watched from the parent: timeouts, crashes and what survives them.

The parent owns the clock: a benchmark that hangs is killed with its whole process group,
one that segfaults or calls ``os._exit`` is recorded as failed with the tail of its
output, and whatever the process reported before it died is kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.core.config import Config
from histbench.core.modes import MeasureMode
from histbench.measure import WORKER_SCRIPT, disturbance
from histbench.measure.instructions import is_valgrind_line
from histbench.measure.worker_spec import RunSpec, SetupCacheSpec
from histbench.run import reaper, valgrind
from histbench.run.settings import QuietLevel, Settings
from histbench.run.suite import BenchmarkSpec
from histbench.store.statuses import Status

TAIL_CHARS = 2000
POLL_SECONDS = 0.05


@dataclass
class Outcome:
    """What one process said (or did not say) about one parameter set."""

    status: Status
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
        return self.status == Status.OK and bool(flags) and all(flags)


@dataclass
class CacheOutcome:
    status: Status
    path: Path | None = None
    reason: str | None = None
    stderr_tail: str | None = None


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


# Valgrind's own messages (``==123==`` or ``--123-- warning: ...``): never the worker's
# last words, though kept in the log's tail.
def _last_line(log: Path) -> str | None:
    lines = [ln for ln in _tail(log).splitlines()
             if ln.strip() and not is_valgrind_line(ln)]
    return lines[-1].strip()[:200] if lines else None


# A worker that ended well but left no events: its folder was emptied under it, which only
# the benchmark can have done (histbench removes it only after reading it).
_FILES_REMOVED = ("the worker's temporary files were deleted while it ran (does the benchmark "
                  "remove files in its working folder?); its results are lost")


def _death_reason(returncode: int, log: Path) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = {"SIGSEGV": " (segmentation fault)", "SIGABRT": " (abort)",
                "SIGKILL": " (killed, out of memory?)"}.get(name, "")
        return f"crashed with {name}{what}"
    last = _last_line(log)
    return f"worker exited with status {returncode}" + (f": {last}" if last else "")


def _kill_group(proc: subprocess.Popen) -> None:
    """The worker, its process group, and every descendant it left elsewhere (reaper.py)."""
    reaper.finish(proc)


def _start(penv: ProcessEnv, mode: str, spec: RunSpec | SetupCacheSpec, spec_path: Path,
           log: Path, *, prefix: list[str] | None = None,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    """The worker in its own session (so that it and whatever it starts can be killed as
    one group), its output into ``log``, its spec beside it. Whatever way it ends, the
    caller passes it to ``_kill_group``, which also kills what it left behind. ``prefix``:
    the command it runs under (valgrind), with ``env`` instead of the environment's."""
    spec_path.write_text(json.dumps(spec))
    with open(log, "wb") as logf:
        return reaper.start([*(prefix or []), penv.python, str(WORKER_SCRIPT), mode,
                             str(spec_path)],
                            cwd=spec_path.parent, stdin=subprocess.DEVNULL, stdout=logf,
                            stderr=subprocess.STDOUT,
                            env=reaper.child_env(env if env is not None else penv.env))


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


def run_process(penv: ProcessEnv, bench: BenchmarkSpec, indices: list[int],
                settings: Settings, numbers: dict[int, int], cache_file: Path | None,
                tmp: Path, attempt: int, quiet: QuietLevel) -> dict[int, Outcome]:
    """One worker process for some parameter sets of one round; the outcome of each set it
    finished, and of the one it died or hung on."""
    events_file = tmp / f"events{attempt}.jsonl"
    log = tmp / f"log{attempt}.txt"
    tool = valgrind.prepare() if settings.mode_for(bench) == MeasureMode.INSTRUCTIONS \
        else None
    out_dir = tmp / f"callgrind{attempt}"
    spec = RunSpec(benchmark_dir=str(penv.benchmark_dir), name=bench.name,
                   param_indices=indices, cache_file=str(cache_file) if cache_file else None,
                   events_file=str(events_file),
                   config=settings.worker_config(bench, numbers, quiet),
                   instructions=tool.worker_config(out_dir) if tool else None)
    timeout = float(bench.timeout or Config.default_timeout)
    prefix = env = None
    if tool is not None:
        out_dir.mkdir(exist_ok=True)
        timeout *= valgrind.TIMEOUT_FACTOR  # every call runs ~50x slower under Valgrind
        env = tool.env(penv.env)
        if tool.method == valgrind.SHIM:  # the differential's worker runs its own counts
            prefix = tool.command(out_dir)
    proc = _start(penv, "run", spec, tmp / f"spec{attempt}.json", log, prefix=prefix, env=env)
    try:
        outcomes = _watch(proc, indices, events_file, log, timeout)
    except BaseException:
        _kill_group(proc)  # Ctrl-C or a kill of the parent must not orphan the worker
        raise
    if tool is not None:
        for out in outcomes.values():
            out.extra["valgrind"] = tool.record
    return outcomes


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
        if timed_out:
            reason = f"timed out after {timeout:g} s"
        elif proc.returncode == 0 and not events_file.exists():
            reason = _FILES_REMOVED
        else:
            reason = _death_reason(proc.returncode, log)
        outcomes[lost] = Outcome(Status.FAILED, reason=reason, stderr_tail=_tail(log))
    return outcomes


def _wait(proc: subprocess.Popen, deadline: float) -> int | None:
    try:
        return proc.wait(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        return None


def _outcome(event: dict, log: Path) -> Outcome:
    status = Status(event["status"])
    extra = dict(event.get("extra") or {})
    return Outcome(
        status=status,
        samples=[float(v) for v in event.get("samples", [])],
        number=event.get("number"),
        reason=event.get("reason"),
        stderr_tail=_tail(log) if status == Status.FAILED else None,
        started_at=event.get("started_at"),
        duration=event.get("duration"),
        references=[float(v) for v in extra.pop("references", [])],
        cpu_shares=[None if v is None else float(v) for v in extra.pop("cpu_shares", [])],
        extra=extra,
    )


def run_setup_cache(penv: ProcessEnv, bench: BenchmarkSpec, tmp: Path) -> CacheOutcome:
    """setup_cache runs once, in its own process, and its value is pickled for the rounds."""
    key = bench.setup_cache_key or bench.name
    stem = "".join(c if c.isalnum() else "_" for c in key)
    out = tmp / f"cache_{stem}.pickle"
    log = tmp / f"cache_{stem}.log"
    timeout = float(bench.setup_cache_timeout or bench.timeout or Config.default_timeout)
    spec = SetupCacheSpec(benchmark_dir=str(penv.benchmark_dir), name=bench.name,
                          out_file=str(out))
    proc = _start(penv, "setup_cache", spec, tmp / f"cache_{stem}.json", log)
    try:
        ended = (_wait(proc, time.monotonic() + timeout) is not None
                 or _wait_long(proc, timeout) is not None)
    finally:
        _kill_group(proc)  # also what it left running, on any way out
    if not ended:
        return CacheOutcome(Status.FAILED, reason=f"setup_cache timed out after {timeout:g} s",
                            stderr_tail=_tail(log))
    status_file = Path(str(out) + ".status")
    if proc.returncode != 0 or not status_file.exists():
        reason = _death_reason(proc.returncode, log)
        last = _last_line(log)
        if proc.returncode > 0 and last:
            reason = f"setup_cache raised {last}"
        return CacheOutcome(Status.FAILED, reason=reason, stderr_tail=_tail(log))
    status = json.loads(status_file.read_text())
    if status["status"] == Status.SKIPPED:
        return CacheOutcome(Status.SKIPPED, reason="setup_cache raised NotImplementedError")
    return CacheOutcome(Status.OK, path=out)


def _wait_long(proc: subprocess.Popen, timeout: float) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
