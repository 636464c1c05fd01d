"""Valgrind for instruction-count mode: the tools found, the shim compiled, the command.

A ``time_`` benchmark measured in instructions (core/modes.py) runs its worker under
callgrind, with its cache simulation, in a fixed and recorded setting:

- ``setarch $(uname -m) -R`` turns address-space randomisation off, and ``PYTHONHASHSEED``
  is fixed, so that two processes lay out memory and hash strings alike;
- the cache geometry is fixed (``CACHE_GEOMETRY``), so the counts do not depend on the
  host CPU;
- instrumentation is off at start: only what the worker brackets is counted.

The brackets are a small C shim (``SHIM_SOURCE``) of callgrind's client requests, compiled
here with ``cc -shared -fPIC`` once per machine into a cache folder, keyed by a hash of
its source, the compiler and the header; the worker (standard library only) loads it
with ctypes (measure/instructions.py). Without a compiler, or without
``valgrind/callgrind.h``, the worker falls back to whole-process counts of N and 2N calls
in two processes, subtracted (the ``differential`` method); the result says which.

Everything that shapes a count (Valgrind's version, the arguments, the method, the fixed
environment) is the ``record``: kept in each result, and folded into the version of its
series (``series_version``), so that counts taken in different settings are never
compared. Standard library only (no numpy): loaded by every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError
from histbench.measure.instructions import CYCLES_FORMULA, DIFFERENTIAL, SHIM, WARMUP_CALLS
from histbench.run.environments import last_line
from histbench.run.locks import exclusive

METHOD_ENV = "HISTBENCH_VALGRIND_METHOD"  # "differential" forces the fallback (tests, cc-less)
HASH_SEED = "0"
# A benchmark's timeout is scaled by this in instruction mode: Valgrind's slowdown. Measured
# here (Python 3.11, Valgrind 3.19): a counted call, with the cache simulation, runs 200 to
# 240 times slower than natively (a pure-Python loop, sorted(), a json round trip), an
# uncounted one ~9 times; a parameter set makes 3 counted and 2 uncounted calls where time
# mode makes many, so x50 of the timeout covers calls of up to ~4 s natively at the
# default 60 s timeout (3000 s over ~700 call-lengths). A longer call needs a longer
# ``timeout`` on the benchmark.
TIMEOUT_FACTOR = 50
CACHE_GEOMETRY = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64")
# Every option that shapes a count. --dump-line=no and --dump-instr=no only shrink the dump
# files, which the worker reads for their totals alone.
_COMMON_ARGS = ("--tool=callgrind", "--cache-sim=yes", *CACHE_GEOMETRY, "--trace-children=no",
                "--dump-line=no", "--dump-instr=no", "--compress-strings=no")

SHIM_SOURCE = """\
/* histbench's callgrind brackets (histbench/run/valgrind.py), loaded by ctypes. */
#include <valgrind/callgrind.h>

int histbench_on_valgrind(void) { return (int)RUNNING_ON_VALGRIND; }

void histbench_start(void) {
    CALLGRIND_ZERO_STATS;
    CALLGRIND_START_INSTRUMENTATION;
}

void histbench_stop(const char *name) {
    CALLGRIND_STOP_INSTRUMENTATION;
    CALLGRIND_DUMP_STATS_AT(name);
}

void histbench_nothing(const char *name) { (void)name; }
"""


@dataclass(frozen=True)
class Valgrind:
    """The tools found on this machine and how a worker is run under them."""

    valgrind: str
    setarch: str
    version: str  # ``valgrind --version``: valgrind-3.19.0
    method: str  # SHIM or DIFFERENTIAL
    shim: str | None = None  # the compiled shim's path (SHIM only)
    fallback_reason: str | None = None  # why not the shim (DIFFERENTIAL only)
    args: tuple[str, ...] = field(default=())

    def command(self, out_dir: Path) -> list[str]:
        """The prefix before ``python worker.py ...``: dumps go to ``out_dir/cg.<pid>``."""
        return [self.setarch, platform.machine(), "-R", self.valgrind, "-q", *self.args,
                f"--callgrind-out-file={Path(out_dir) / 'cg.%p'}"]

    def env(self, base: dict[str, str] | None) -> dict[str, str]:
        """The worker's environment: the hash seed fixed."""
        return {**(os.environ if base is None else base), "PYTHONHASHSEED": HASH_SEED}

    @property
    def record(self) -> dict[str, Any]:
        """What shapes a count, as stored in each result's ``extra["valgrind"]``."""
        found = {"version": self.version, "method": self.method, "args": list(self.args),
                 "aslr": "off (setarch -R)", "env": {"PYTHONHASHSEED": HASH_SEED},
                 "warmup_calls": WARMUP_CALLS, "cycles": CYCLES_FORMULA}
        if self.fallback_reason:
            found["fallback_reason"] = self.fallback_reason
        return found

    def worker_config(self, out_dir: Path) -> dict[str, Any]:
        """The spec's ``instructions`` entry (measure/worker_spec.py InstructionsConfig)."""
        return {"method": self.method, "shim": self.shim, "out_dir": str(out_dir),
                "command": self.command(out_dir), "batches": 0, "counted": 0}


# Left out of the versions: why the fallback was taken does not change a count.
_NOT_FOLDED = ("fallback_reason",)


def series_version(bench_version: str, record: dict[str, Any], series: str) -> str:
    """The stored version of one instruction-mode series: the benchmark's own version with
    every setting that shapes the count folded in (for ``cycles``, the weights too), so
    that histbench, which compares only equal versions, never compares counts taken in
    different settings."""
    settings = {k: v for k, v in record.items() if k not in _NOT_FOLDED}
    if series != "cycles":
        settings.pop("cycles", None)
    canonical = json.dumps({"benchmark": bench_version, "series": series,
                            "valgrind": settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cache_dir() -> Path:
    """Where compiled shims are kept: ``$XDG_CACHE_HOME/histbench/valgrind``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "histbench" / "valgrind"


def prepare() -> Valgrind:
    """The tools, checked, and the shim compiled (once per machine, cached). Raises a
    one-line HistbenchError when valgrind or setarch is missing."""
    return _prepare(os.environ.get("PATH", ""), str(cache_dir()),
                    os.environ.get(METHOD_ENV, ""))


@lru_cache(maxsize=8)
def _prepare(path: str, cache: str, forced: str) -> Valgrind:
    valgrind = shutil.which("valgrind", path=path)
    if not valgrind:
        raise HistbenchError("--measure instructions needs valgrind, which is not on PATH "
                             "(Debian/Ubuntu: apt-get install valgrind)")
    setarch = shutil.which("setarch", path=path)
    if not setarch:
        raise HistbenchError("--measure instructions needs setarch, which is not on PATH "
                             "(Debian/Ubuntu: apt-get install util-linux)")
    version = _version(valgrind)
    if forced not in ("", SHIM, DIFFERENTIAL):
        raise HistbenchError(f"{METHOD_ENV}={forced!r}: expected {SHIM!r} or {DIFFERENTIAL!r}")
    shim, reason = (None, f"{METHOD_ENV}={DIFFERENTIAL}") if forced == DIFFERENTIAL \
        else _shim(path, Path(cache))
    if shim is None and forced == SHIM:
        raise HistbenchError(f"{METHOD_ENV}={SHIM}, but the shim cannot be built: {reason}")
    method = SHIM if shim else DIFFERENTIAL
    at_start = "no" if method == SHIM else "yes"
    return Valgrind(valgrind=valgrind, setarch=setarch, version=version, method=method,
                    shim=shim, fallback_reason=reason,
                    args=(*_COMMON_ARGS, f"--instr-atstart={at_start}"))


def _version(valgrind: str) -> str:
    try:
        proc = subprocess.run([valgrind, "--version"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HistbenchError(f"{valgrind} --version failed: {exc}") from None
    text = proc.stdout.strip()
    if proc.returncode != 0 or not text:
        raise HistbenchError(f"{valgrind} --version failed: "
                             f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return text.splitlines()[0]


def _shim(path: str, cache: Path) -> tuple[str | None, str | None]:
    """(the compiled shim, None), or (None, why it cannot be built)."""
    cc = shutil.which("cc", path=path)
    if not cc:
        return None, "no C compiler (cc) on PATH"
    with tempfile.TemporaryDirectory(prefix="histbench-shim-") as tmp:
        source = Path(tmp) / "shim.c"
        source.write_text(SHIM_SOURCE)
        # The preprocessed source holds the header as found: a new callgrind.h, or another
        # compiler, makes another key.
        pre = _run([cc, "-E", "-P", str(source)], tmp)
        if pre.returncode != 0:
            return None, f"cannot compile the shim: {last_line(pre.stderr, 200)} " \
                         "(Debian/Ubuntu: apt-get install valgrind)"
        about = _run([cc, "--version"], tmp)
        key = hashlib.sha256("\0".join((SHIM_SOURCE, cc, about.stdout, pre.stdout))
                             .encode()).hexdigest()[:20]
        target = cache / f"shim-{key}.so"
        if target.exists():
            return str(target), None
        with exclusive(cache / "shim.lock"):
            if target.exists():  # another run built it while we waited
                return str(target), None
            built = Path(tmp) / "shim.so"
            proc = _run([cc, "-shared", "-fPIC", "-O2", "-o", str(built), str(source)], tmp)
            if proc.returncode != 0 or not built.exists():
                return None, f"cannot compile the shim: {last_line(proc.stderr, 200)}"
            partial = cache / f".shim-{key}.{os.getpid()}.tmp"
            shutil.copyfile(built, partial)
            os.replace(partial, target)
    return str(target), None


def _run(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, 1, "", str(exc))
