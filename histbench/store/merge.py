"""Result folders of several jobs merged into one (``histbench merge``): the shards of a
CI matrix, or any runs made apart.

Everything is checked before anything is written: each file to be added must load, and
sit where its content says it belongs. A conflict refuses the whole merge, in one line
naming both files. The rules:

- result and overlap files: a file byte-identical to the target's is already there (every
  job of a matrix starts from the same earlier results). Two folders holding different
  files for one commit, environment and machine conflict. A file that differs from the
  target's conflicts too, unless ``replace`` (the folders given win over the target;
  never over each other).
- ``machine.json``: the target's record stays (it is the history's reference); without
  one, the first folder's. A record of other hardware is a note, not a conflict: each
  result keeps its own fingerprint.
- ``calibration.json``: entries the target lacks are added; its own are kept.
- ``benchmarks.json``: the folders' descriptions update the target's; two folders
  describing one benchmark differently conflict (they ran different suites).

Other files (the lock, a results branch's ``.git``) are left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError
from histbench.core.files import write_atomic
from histbench.store import calibration_file, machine, results, shards
from histbench.store.shards import ShardLabel


@dataclass
class MergeReport:
    added: list[Path] = field(default_factory=list)  # in the target
    replaced: list[Path] = field(default_factory=list)
    unchanged: int = 0  # files the target had already, identical
    notes: list[str] = field(default_factory=list)
    machines: set[str] = field(default_factory=set)  # with result files added or replaced
    envs: set[tuple[str, str]] = field(default_factory=set)  # (machine, env) of those


@dataclass
class _Candidate:
    source: Path  # the file in a folder given
    data: bytes
    rel: Path  # its place in the target


def merge_folders(sources: list[Path], target: Path, *, replace: bool = False) -> MergeReport:
    """Merge the result folders ``sources`` into ``target`` (made if missing)."""
    target = Path(target)
    report = MergeReport()
    sources = _usable_sources(sources, target, report)
    candidates = _result_candidates(sources, target, report)
    conflicts = [c for c in candidates.values() if (target / c.rel).is_file()]
    if conflicts and not replace:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise HistbenchError(f"conflict: {first.source} differs from {target / first.rel}, "
                             f"already in the target{more}; merge refused, nothing written "
                             "(--replace lets the folders given win)")
    labels = [_check(c, report) for c in candidates.values()]
    _check_shards([label for label in labels if label], [*candidates, *_overlaps(target)],
                  report)
    records = _machine_records(sources, target, report)
    calibrations = _calibrations(sources, target)
    benchmarks = _benchmarks(sources, target)
    for rel, c in sorted(candidates.items()):
        (report.replaced if (target / rel).is_file() else report.added).append(target / rel)
        write_atomic(target / rel, c.data, durable=True)
    for path, text in [*records, *calibrations]:
        write_atomic(path, text, durable=True)
    if benchmarks is not None:
        results.write_json_atomic(target / results.BENCHMARKS_FILE,
                                  {"schema": "histbench-benchmarks", "benchmarks": benchmarks})
    return report


def _usable_sources(sources: list[Path], target: Path, report: MergeReport) -> list[Path]:
    found = []
    for source in map(Path, sources):
        if not source.is_dir():
            raise HistbenchError(f"{source}: not a folder")
        if source.resolve() == target.resolve():
            report.notes.append(f"{source} is the target itself: skipped")
            continue
        if results.iter_result_files(source.parent, source.name):
            raise HistbenchError(f"{source}: holds result files itself, as a machine's folder "
                                 f"does; give the results folder above it ({source.parent})")
        if not any(results.iter_result_files(source, m.name) or
                    shards.iter_overlap_files(source, m.name) for m in _machine_dirs(source)):
            raise HistbenchError(f"{source}: no result files (expected "
                                 "<machine>/<commit>-<env>.json inside)")
        found.append(source)
    if not found:
        raise HistbenchError("no folder to merge")
    return found


def _machine_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _result_candidates(sources: list[Path], target: Path,
                       report: MergeReport) -> dict[Path, _Candidate]:
    """The result and overlap files the target lacks or has otherwise, one per place; two
    folders with different files for one place conflict."""
    chosen: dict[Path, _Candidate] = {}
    for source in sources:
        for folder in _machine_dirs(source):
            files = results.iter_result_files(source, folder.name) \
                + shards.iter_overlap_files(source, folder.name)
            for path in files:
                rel = path.relative_to(source)
                data = path.read_bytes()
                mine = target / rel
                if mine.is_file() and mine.read_bytes() == data:
                    report.unchanged += 1
                    continue
                other = chosen.get(rel)
                if other is not None and other.data != data:
                    raise HistbenchError(f"conflict: {other.source} and {path} are different "
                                         "measurements of one commit, environment and machine; "
                                         "merge refused, nothing written (keep one of them)")
                chosen.setdefault(rel, _Candidate(path, data, rel))
    return chosen


def _check(c: _Candidate, report: MergeReport) -> ShardLabel | None:
    """The file loads and sits where its content says it belongs; its shard label (of a
    result of the history: an overlap measurement's is in its name)."""
    run = results.load(c.source)  # any problem: one line naming the file
    folder = c.rel.parts[0]
    overlap = len(c.rel.parts) == 3
    label = shards.label_of(run.settings)
    if overlap:
        expected = shards.overlap_path(Path(), run.machine, run.commit.hash, run.env_name,
                                       label) if label and run.commit else None
    else:
        expected = results.result_path(Path(), run.machine, run.commit.hash, run.env_name) \
            if run.commit else None
    if expected is None or expected != c.rel or folder != results.safe_name(run.machine):
        raise HistbenchError(f"{c.source}: misplaced result file (it holds machine "
                             f"{run.machine!r}, env {run.env_name!r}, commit "
                             f"{run.commit.short if run.commit else None}; expected at "
                             f"{expected}); merge refused, nothing written")
    if not overlap:
        report.machines.add(folder)
        report.envs.add((run.machine, run.env_name))
    return label if not overlap else None


def _overlaps(target: Path) -> list[Path]:
    if not target.is_dir():
        return []
    return [p.relative_to(target) for m in _machine_dirs(target)
            for p in shards.iter_overlap_files(target, m.name)]


def _check_shards(labels: list[ShardLabel], overlap_files: list[Path],
                  report: MergeReport) -> None:
    """Say which shards of a sharded run the folders added lack, and which have no
    overlap measurement (their runner offset cannot be measured)."""
    seen: dict[tuple[str, int], set[int]] = {}
    for label in labels:
        seen.setdefault(label.batch, set()).add(label.index)
    measured = [found for path in overlap_files if (found := shards.overlap_name(path))]
    for (anchor, total), indices in sorted(seen.items()):
        missing = sorted(set(range(1, total + 1)) - indices)
        if missing:
            report.notes.append(
                f"the sharded run anchored at {anchor[:8]} has {total} shards; no results "
                f"of shard {', '.join(f'{i}/{total}' for i in missing)} here: its commits "
                "are missing from the history")
        overlapped = {index for prefix, index, count in measured
                      if anchor.startswith(prefix) and count == total}
        lacking = sorted(indices - overlapped)
        if lacking:
            report.notes.append(
                f"shard {', '.join(f'{i}/{total}' for i in lacking)} of the run anchored at "
                f"{anchor[:8]}: no overlap measurement, so its runner offset is unknown")


def _machine_records(sources: list[Path], target: Path,
                     report: MergeReport) -> list[tuple[Path, str]]:
    """machine.json files to write: the first folder's where the target has none."""
    writes = []
    names = {m.name for s in sources for m in _machine_dirs(s)}
    for name in sorted(names):
        found = [(s / name / machine.MACHINE_FILE) for s in sources
                 if (s / name / machine.MACHINE_FILE).is_file()]
        records = [(path, machine.load(path)) for path in found]
        mine = target / name / machine.MACHINE_FILE
        reference = machine.load(mine) if mine.is_file() else None
        if reference is None and records:
            writes.append((mine, records[0][0].read_text()))
            reference = records[0][1]
        for path, record in records:
            diff = reference and machine.fingerprint_difference(reference.fingerprint(),
                                                                record.fingerprint())
            if diff:
                report.notes.append(f"{path}: other hardware than the record kept ({diff}); "
                                    "each result keeps its own fingerprint")
    return writes


def _calibrations(sources: list[Path], target: Path) -> list[tuple[Path, str]]:
    """calibration.json files to write: the target's entries, plus the folders' others."""
    writes = []
    names = {m.name for s in sources for m in _machine_dirs(s)}
    for name in sorted(names):
        mine = target / name / calibration_file.FILE_NAME
        merged = calibration_file.read(mine) if mine.is_file() else {}
        before = json.dumps(merged, sort_keys=True)
        for source in sources:
            path = source / name / calibration_file.FILE_NAME
            if path.is_file():
                for key, entries in calibration_file.read(path).items():
                    into = merged.setdefault(key, {})
                    for sub, value in entries.items():
                        into.setdefault(sub, value)
        if json.dumps(merged, sort_keys=True) != before:
            writes.append((mine, json.dumps(merged, indent=1) + "\n"))
    return writes


def _benchmarks(sources: list[Path], target: Path) -> dict[str, dict[str, Any]] | None:
    """The merged benchmarks.json, or None when the folders add nothing to it."""
    theirs: dict[str, tuple[Path, dict[str, Any]]] = {}
    for source in sources:
        for name, info in results.load_benchmark_info(source).items():
            other = theirs.get(name)
            if other is not None and _canonical(other[1]) != _canonical(info):
                raise HistbenchError(
                    f"conflict: {other[0] / results.BENCHMARKS_FILE} and "
                    f"{source / results.BENCHMARKS_FILE} describe benchmark {name} "
                    "differently (the jobs ran different suites); merge refused, nothing "
                    "written")
            theirs.setdefault(name, (source, info))
    current = results.load_benchmark_info(target) if target.is_dir() else {}
    merged = {**current, **{name: info for name, (_, info) in theirs.items()}}
    return merged if _canonical(merged) != _canonical(current) else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)

