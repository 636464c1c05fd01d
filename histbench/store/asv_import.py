"""Importing an asv results folder (format v2), so asv users keep their history.

asv keeps one file per commit and environment whose ``results`` rows are positional, in
the order of ``result_columns``, one list entry per parameter combination. A ``null``
result means the benchmark failed, ``NaN`` that it was skipped. Raw samples exist only
when asv ran with ``--record-samples``; without them the one reported value (asv's
median) becomes a single sample, and the result says so (``extra.asv_samples: false``),
because statistics on one value are not statistics.

asv pools the samples of its ``rounds`` processes (2 by default) into one list, round
after round. They are not independent: values from one process share its layout, hash
seed and the machine's state then. Stored as one group they would pass for that many
independent values (p-values like 1e-13 on a 3% change), so the list is cut back into
``rounds`` consecutive groups (asv's own order; equal sizes, as its rounds take the same
``repeat``), and every result carries ``extra.imported_from``: comparisons of imported
results test per-process medians (two_sample.compare's ``by_process``), the honest
model for a handful of processes, and ``show`` and the site say "imported from asv".
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.core import parallel as processes
from histbench.core.errors import HistbenchError
from histbench.core.parallel import fork_map
from histbench.store import machine as machines
from histbench.store import results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults
from histbench.store.statuses import Status

ASV_RESULT_NAME = re.compile(r"^[0-9a-f]{7,40}-.+\.json$")


@dataclass
class ImportReport:
    imported: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per file not imported
    machines: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        # asv writes bare NaN for skipped benchmarks: Python's parser accepts it.
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise HistbenchError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise HistbenchError(f"{path}: not valid JSON (line {exc.lineno})") from None


def load_benchmarks(asv_results: Path) -> dict[str, dict]:
    path = Path(asv_results) / "benchmarks.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise HistbenchError(f"{path}: not an asv benchmarks.json")
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _ram_bytes(text: Any) -> int:
    """asv stores RAM as kB (a number or digits), sometimes with a unit."""
    if isinstance(text, (int, float)):
        return int(text) * 1024
    m = re.match(r"\s*([\d.]+)\s*([KMGT]?i?B?)?", str(text or ""), re.I)
    if not m:
        return 0
    unit = (m.group(2) or "k").upper()[:1]
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(unit, 1024)
    return int(float(m.group(1)) * scale)


def machine_record(path: Path, python: str) -> machines.MachineRecord:
    data = _read_json(path)
    if not isinstance(data, dict) or "machine" not in data:
        raise HistbenchError(f"{path}: not an asv machine.json (no 'machine')")
    try:
        cores = int(data.get("num_cpu") or 0)
    except ValueError:
        cores = 0
    return machines.MachineRecord(
        name=machines.validate_name(str(data["machine"])), os=str(data.get("os") or "unknown"),
        arch=str(data.get("arch") or "unknown"), cpu=str(data.get("cpu") or "unknown"),
        cores=cores, ram_bytes=_ram_bytes(data.get("ram")), python=python,
        python_implementation="CPython")


def _column(row: list, columns: list[str], name: str, default: Any = None) -> Any:
    i = columns.index(name) if name in columns else -1
    return row[i] if 0 <= i < len(row) and row[i] is not None else default


def _per_combo(value: Any, i: int) -> Any:
    return value[i] if isinstance(value, list) and i < len(value) else None


def convert_row(name: str, row: list, columns: list[str], meta: dict) -> list[BenchmarkResult]:
    values = _column(row, columns, "result", [])
    params = _column(row, columns, "params", meta.get("params") or [])
    names = meta.get("param_names") or [f"param{i + 1}" for i in range(len(params))]
    combos = list(itertools.product(*params)) if params else [()]
    samples = _column(row, columns, "samples")
    numbers = _column(row, columns, "stats_number")
    ci_a, ci_b = _column(row, columns, "stats_ci_99_a"), _column(row, columns, "stats_ci_99_b")
    started = _column(row, columns, "started_at")
    duration = _column(row, columns, "duration")
    kind = str(meta.get("type", "time"))
    out = []
    for i, combo in enumerate(combos):
        r = BenchmarkResult(
            name=name, kind=kind, params=dict(zip(names, map(str, combo), strict=False)),
            param_index=i, unit=str(meta.get("unit", "seconds")),
            version=str(_column(row, columns, "version", meta.get("version", ""))),
            started_at=started / 1000 if isinstance(started, (int, float)) else None,
            duration=duration if isinstance(duration, (int, float)) else None)
        value = _per_combo(values, i)
        if value is None:
            r.status, r.reason = Status.FAILED, "failed in asv (null result)"
        elif isinstance(value, float) and math.isnan(value):
            r.status, r.reason = Status.SKIPPED, "skipped in asv (NaN result)"
        else:
            raw = _per_combo(samples, i)
            good = [float(v) for v in raw or [] if v is not None and math.isfinite(v)]
            r.process_samples = _by_round(good, meta.get("rounds")) if good \
                else [[float(value)]]
            r.extra = {"imported_from": "asv", "asv_samples": bool(good)}
            low, high = _per_combo(ci_a, i), _per_combo(ci_b, i)
            if _finite(low) and _finite(high):
                r.extra["asv_ci_99"] = [low, high]
            number = _per_combo(numbers, i)
            r.number = int(number) if _finite(number) else None
            r.with_stats()
        out.append(r)
    return out


def _by_round(samples: list[float], rounds: Any) -> list[list[float]]:
    """asv's pooled samples cut back into its rounds (consecutive, near-equal groups)."""
    count = rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else 2
    count = max(1, min(count, len(samples)))
    size, extra = divmod(len(samples), count)
    groups, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        groups.append(samples[start:end])
        start = end
    return groups


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def convert_file(path: Path, machine_name: str, benchmarks: dict[str, dict],
                 describe: Callable[[str], CommitInfo | None] | None = None) -> RunResults:
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("version") != 2 or "result_columns" not in data:
        raise HistbenchError(f"{path}: not an asv results file of format version 2")
    sha = data.get("commit_hash")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{7,40}", sha):
        raise HistbenchError(f"{path}: no valid commit_hash")
    info = (describe(sha) if describe else None) or CommitInfo(hash=sha)
    if not info.date and isinstance(data.get("date"), (int, float)):
        info.date = data["date"] / 1000
    columns = list(data["result_columns"])
    found: list[BenchmarkResult] = []
    for name, row in (data.get("results") or {}).items():
        if not isinstance(row, list):
            raise HistbenchError(f"{path}: result row of {name!r} is not a list")
        found += convert_row(name, row, columns, benchmarks.get(name, {}))
    return RunResults(
        machine=machine_name, env_name=str(data.get("env_name") or "asv"), commit=info,
        python=str(data.get("python") or ""), requirements=dict(data.get("requirements") or {}),
        histbench_version="asv-import", started_at=None, finished_at=None,
        settings={"imported_from": "asv"}, results=found)


def import_asv(asv_results: Path, results_dir: Path, *,
               describe: Callable[[str], CommitInfo | None] | None = None,
               jobs: int = 1) -> ImportReport:
    """Convert every machine folder; a bad file is reported and skipped, the rest imported
    (by ``jobs`` worker processes)."""
    asv_results = Path(asv_results)
    if not asv_results.is_dir():
        raise HistbenchError(f"{asv_results}: no such folder")
    benchmarks = load_benchmarks(asv_results)
    results.save_benchmark_info(results_dir, {
        name: {"kind": meta.get("type", "time"), "code": meta.get("code", ""),
               **{k: meta[k] for k in ("params", "param_names", "unit", "version", "number",
                                       "repeat", "rounds", "timeout", "warmup_time",
                                       "sample_time", "pretty_name") if k in meta}}
        for name, meta in benchmarks.items()})
    report = ImportReport()
    for folder in sorted(p for p in asv_results.iterdir() if (p / "machine.json").exists()):
        files = sorted(p for p in folder.glob("*.json") if ASV_RESULT_NAME.match(p.name))
        # The first file that converts names the machine: its record needs the run's Python.
        machine_name = None
        while files and machine_name is None:
            path = files.pop(0)
            try:
                run = convert_file(path, folder.name, benchmarks, describe)
            except HistbenchError as exc:
                report.skipped.append(str(exc))
                continue
            record = machine_record(folder / "machine.json", run.python)
            machines.save(record, results_dir)
            machine_name = run.machine = record.name
            report.machines.append(machine_name)
            report.imported.append(results.save(run, results_dir))
        job = (folder.name, machine_name, benchmarks, describe, results_dir)
        for saved, error in fork_map(_import_file, files, jobs, shared=job):
            if error:
                report.skipped.append(error)
            else:
                report.imported.append(saved)
    return report


def _import_file(path: Path) -> tuple[Path | None, str | None]:
    """One asv file converted and saved (in a worker: converting is a summary per result,
    a tenth of a second per file of a large suite); a bad file is its error line."""
    folder, machine_name, benchmarks, describe, results_dir = processes.shared()
    try:
        run = convert_file(path, folder, benchmarks, describe)
    except HistbenchError as exc:
        return None, str(exc)
    run.machine = machine_name
    return results.save(run, results_dir), None
