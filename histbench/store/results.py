"""Result records and their JSON files: ``results/<machine>/<commit>-<env>.json``.

One file per (machine, commit, environment) so that a run can save each commit the moment
it finishes and a crash never costs more than the commit in flight. Files are strict JSON
(no NaN), written atomically, and carry a schema name and version so that a foreign or
corrupt file is recognised and named rather than half-read.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from histbench.core.errors import HistbenchError
from histbench.core.files import read_document_bytes, read_state_json, write_atomic
from histbench.core.modes import COUNT_KINDS
from histbench.store.samples import Summary, summarize
from histbench.store.statuses import STATUSES, BuildRecord, Status

SCHEMA = "histbench-results"
SCHEMA_VERSION = 1


def params_text(params: dict[str, str]) -> str:
    """A parameter set as people read it: ``p=1, q='a'``."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def label_of(name: str, params: dict[str, str]) -> str:
    """How a benchmark at one parameter set is named to people: ``name(p=1, q='a')``."""
    return f"{name}({params_text(params)})" if params else name


@dataclass(frozen=True)
class Disturbance:
    """How much the machine interfered with one result (the rule: histbench/disturbance.py).

    ``samples`` were taken, ``rejected`` of them while the machine was disturbed, and are
    kept in the file but left out of every statistic. ``slowdown`` is the machine's median
    speed during the samples against its quiet speed (1.0 = quiet; 2.0 = half speed), and
    ``worst`` its slowest moment, both against ``reference_level`` (the quietest reference
    time of the run) or, where more, the share of the CPU a sample lost. Samples are
    scaled to ``normalised_to`` (the reference time the machine and environment keep
    across runs). ``fallback``: no process had a single undisturbed sample, so the
    statistics use every sample, and a verdict on them stands only if a machine up to
    ``worst`` slow could not have made it.
    """

    samples: int
    rejected: int
    slowdown: float
    worst: float
    reference_level: float | None = None
    fallback: bool = False
    normalised_to: float | None = None

    @property
    def share(self) -> float:
        return self.rejected / self.samples if self.samples else 0.0

    def describe(self) -> str:
        """One phrase for tables: ``12% of samples (machine up to 1.9x slow)``."""
        if not self.rejected:
            return "none"
        text = f"{100 * self.share:.0f}% of samples (machine up to {self.worst:.1f}x slow)"
        return text + ", all used" if self.fallback else text


@dataclass
class BenchmarkResult:
    """One benchmark at one parameter set: the raw samples and what they say."""

    name: str
    kind: str
    params: dict[str, str] = field(default_factory=dict)
    param_index: int = 0
    unit: str = "seconds"
    version: str = ""
    higher_is_better: bool = False
    status: Status = Status.OK
    reason: str | None = None
    stderr_tail: str | None = None
    process_samples: list[list[float]] = field(default_factory=list)
    number: int | None = None
    started_at: float | None = None
    duration: float | None = None
    stats: Summary | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Disturbance evidence, per process and in measured order: every sample (disturbed ones
    # included), the reference loop's times (one before the first sample, one after each)
    # and each sample's CPU share, so the rule can be checked or re-applied from the file.
    disturbance: Disturbance | None = None
    measured_samples: list[list[float]] = field(default_factory=list)
    process_references: list[list[float]] = field(default_factory=list)
    process_cpu_shares: list[list[float | None]] = field(default_factory=list)

    @property
    def samples(self) -> list[float]:
        return [v for group in self.process_samples for v in group]

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Identity across commits: name plus parameter values (not their position)."""
        return self.name, tuple(self.params.items())

    @property
    def label(self) -> str:
        return label_of(self.name, self.params)

    @property
    def imported(self) -> bool:
        """Measured by another tool (asv) and imported: how its samples were taken, and
        whether they are independent, is that tool's."""
        return bool(self.extra.get("imported_from"))

    def with_stats(self) -> BenchmarkResult:
        """Recompute the summary from the samples (the samples are the source of truth)."""
        groups = [g for g in self.process_samples if g]
        self.stats = summarize(self.samples, groups) if groups else None
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = Status(self.status).value
        data["stats"] = self.stats.to_dict() if self.stats else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        check_row(data)
        return cls.from_checked(data)

    @classmethod
    def from_checked(cls, data: dict[str, Any]) -> BenchmarkResult:
        """A row ``check_row`` has passed (``check_document`` checks every row of a file
        first: checking each again doubled the cost of loading a history)."""
        data = dict(data)
        stats = data.pop("stats", None)
        disturbance = data.pop("disturbance", None)
        result = cls(**data)
        result.status = Status(result.status)
        result.disturbance = Disturbance(**disturbance) if disturbance else None
        if stats:
            result.stats = Summary.from_dict(stats)
        if not _summary_fits(result):
            result.with_stats()  # lost (``stats: null``) or stale: the samples hold the truth
        return result


def _summary_fits(result: BenchmarkResult) -> bool:
    values = result.samples
    if result.stats is None:
        return not values or result.status != Status.OK
    return summary_fits(result.stats.n, result.stats.min, result.stats.max, values)


def summary_fits(n: Any, low: Any, high: Any, values: list[float]) -> bool:
    """Whether a stored summary is of these samples (count and extremes: cheap to check,
    and no edit of a sample leaves all three unchanged by chance). A summary without
    samples (imported from a tool that kept none) is all there is, and stays."""
    return not values or (n == len(values) and low == min(values) and high == max(values))


def error_line(error: dict[str, Any]) -> str:
    """One entry of a result file's ``errors`` (a suite file that did not import, a
    benchmark whose attributes could not be honoured) as the line every reader shows."""
    what = error.get("benchmark") or Path(str(error.get("file") or "suite")).name
    return f"{what}: {error.get('error', 'failed')}"


def checked_row_stats(row: dict[str, Any]) -> dict[str, Any]:
    """For readers of the raw JSON (the site's fast path), after ``check_row``: an ok
    result's summary, made again if it is not of its samples."""
    groups = [g for g in row.get("process_samples", []) if g]
    values = [v for g in groups for v in g]
    stats = row.get("stats") or {}
    if values and not summary_fits(stats.get("n"), stats.get("min"), stats.get("max"), values):
        return summarize(values, groups).to_dict()
    return stats


KINDS = ("time", "timeraw", "mem", "peakmem", "track", *COUNT_KINDS)


def check_row(row: Any) -> None:
    """One result entry's fields, as a hand edit or another tool may have left them: every
    reader (the full loader, the site's fast path) checks them here, so that a wrong type
    is one line naming the benchmark, never a traceback or a silently wrong figure (a
    ``higher_is_better`` of "false" would turn a speed-up into a regression)."""
    if not isinstance(row, dict):
        raise ValueError("a result entry is not an object")
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name {name!r} must be a string")
    for key in ("kind", "unit", "version"):
        if not isinstance(row.get(key, ""), str):
            raise ValueError(f"{key} of {name!r} must be a string")
    if row.get("kind") not in KINDS:
        raise ValueError(f"kind {row.get('kind')!r} of {name!r} is not one of {KINDS}")
    if row.get("status", Status.OK.value) not in STATUSES:
        raise ValueError(f"unknown status {row.get('status')!r} of {name!r}")
    params = row.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in params.items()):
        raise ValueError(f"params of {name!r} must be an object of strings")
    if not isinstance(row.get("higher_is_better", False), bool):
        raise ValueError(f"higher_is_better of {name!r} must be true or false")
    for key in ("reason", "stderr_tail"):
        if not isinstance(row.get(key), (str, type(None))):
            raise ValueError(f"{key} of {name!r} must be a string")
    number = row.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)
                               or number < 1):
        raise ValueError(f"number of {name!r} must be a positive integer")
    for key in ("extra", "stats", "disturbance"):
        if not isinstance(row.get(key) or {}, dict):
            raise ValueError(f"{key} of {name!r} must be an object")
    for key in ("process_samples", "measured_samples"):
        _check_samples(f"{name} {key}", row.get(key, []), row.get("kind"))


def check_document(data: dict[str, Any]) -> None:
    """A result file's own fields, and that no benchmark and parameter set is in it twice
    (which of two would a reader take?)."""
    if not isinstance(data.get("env_name"), str) or not data["env_name"]:
        raise ValueError("env_name must be a string")
    for key in ("settings", "build", "requirements", "packages", "env_vars"):
        if not isinstance(data.get(key) or {}, dict):
            raise ValueError(f"{key} must be an object")
    if not isinstance(data.get("complete", True), bool):
        raise ValueError("complete must be true or false")
    rows = data.get("results", [])
    if not isinstance(rows, list):
        raise ValueError("results must be a list")
    seen = set()
    for row in rows:
        check_row(row)
        key = (row["name"], tuple(sorted(row.get("params", {}).items())))
        if key in seen:
            raise ValueError(f"{label_of(row['name'], dict(key[1]))} is in the file twice")
        seen.add(key)


# Kinds whose values are durations or sizes: a negative one is a corrupt file, not a figure,
# and so is one past what the quantity can be (a call of a year, more bytes than 64 bits
# address), which would otherwise turn into ratios hundreds of digits long.
_NON_NEGATIVE_KINDS = ("time", "timeraw", "mem", "peakmem", *COUNT_KINDS)
_LARGEST = {"time": (3.2e7, "a year"), "timeraw": (3.2e7, "a year"),
            "mem": (2.0**64, "2**64 bytes"), "peakmem": (2.0**64, "2**64 bytes")}


def _check_samples(what: str, groups: Any, kind: str) -> None:
    """Samples are lists (one per process) of finite numbers; anything else would surface
    later as a traceback or, worse, as a ratio computed from nonsense."""
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise ValueError(f"{what} must be a list of lists of numbers")
    for group in groups:
        for value in group:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{what} holds {value!r}, not a number")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"{what} holds {value!r}, not a finite number")
            if value < 0 and kind in _NON_NEGATIVE_KINDS:
                raise ValueError(f"{what} holds {value!r}: a {kind} value cannot be negative")
            if kind in _LARGEST and value > _LARGEST[kind][0]:
                raise ValueError(f"{what} holds {value!r}: a {kind} value cannot be more than "
                                 f"{_LARGEST[kind][1]}")


@dataclass
class CommitInfo:
    """What a result file needs to know of its commit to be read without the repo."""

    hash: str
    date: float = 0.0  # author date, seconds since the epoch
    author: str = ""
    subject: str = ""
    parents: list[str] = field(default_factory=list)
    branch: str = ""

    @property
    def short(self) -> str:
        return self.hash[:8]


@dataclass
class RunResults:
    """Everything measured for one commit in one environment on one machine."""

    machine: str
    env_name: str
    commit: CommitInfo | None = None
    python: str = ""
    requirements: dict[str, str] = field(default_factory=dict)
    histbench_version: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    build: BuildRecord = field(default_factory=BuildRecord)
    results: list[BenchmarkResult] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True  # False while an interleaved run has rounds still to do
    packages: dict[str, str] = field(default_factory=dict)  # distributions in the env
    # every benchmark the suite had when this commit was measured, -b or not: a benchmark
    # in it without a result was left out, not removed; empty where unknown (older files)
    suite: list[str] = field(default_factory=list)
    env_vars: dict[str, str] = field(default_factory=dict)  # the matrix's, as asv records
    # the hardware measured on (store/machine.FINGERPRINT: arch, cpu, cores, ram_bytes),
    # per result since runners of one machine name may differ; empty in older files
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def build_failed(self) -> bool:
        return self.build.failed

    def by_key(self) -> dict[tuple, BenchmarkResult]:
        return {r.key: r for r in self.results}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "machine": self.machine,
            "env_name": self.env_name,
            "commit": asdict(self.commit) if self.commit else None,
            "python": self.python,
            "requirements": self.requirements,
            "histbench_version": self.histbench_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "settings": self.settings,
            "build": self.build.to_dict(),
            "results": [r.to_dict() for r in self.results],
            "errors": self.errors,
            "complete": self.complete,
            "packages": self.packages,
            "suite": self.suite,
            "env_vars": self.env_vars,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        check_document(data)
        commit = data.get("commit")
        return cls(
            machine=data["machine"],
            env_name=data["env_name"],
            commit=commit_info(commit) if commit else None,
            python=data.get("python", ""),
            requirements=data.get("requirements", {}),
            histbench_version=data.get("histbench_version", ""),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            settings=data.get("settings", {}),
            build=BuildRecord.from_dict(data.get("build", {})),
            results=[BenchmarkResult.from_checked(r) for r in data.get("results", [])],
            errors=_errors(data.get("errors", [])),
            complete=data.get("complete", True),
            packages=data.get("packages", {}),
            suite=_names(data.get("suite", [])),
            env_vars=_strings(data.get("env_vars", {})),
            fingerprint=_fingerprint(data.get("fingerprint", {})),
        )


def _errors(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError("errors must be a list of objects")
    return value


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ValueError("env_vars must be an object of strings")
    return value


def _fingerprint(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int)) and not isinstance(v, bool)
            for k, v in value.items()):
        raise ValueError("fingerprint must be an object of strings and integers")
    return value


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("suite must be a list of benchmark names")
    return value


MAX_DATE = 95_617_584_000  # the year 5000, in seconds since the epoch


def commit_info(data: dict[str, Any]) -> CommitInfo:
    info = CommitInfo(**data)
    if not isinstance(info.hash, str) or not re.fullmatch(r"[0-9a-f]{7,64}", info.hash):
        raise ValueError(f"commit hash {info.hash!r} is not a hex string")
    if not all(isinstance(v, str) for v in (info.author, info.subject, info.branch)):
        raise ValueError("commit author, subject and branch must be strings")
    if isinstance(info.date, bool) or not isinstance(info.date, (int, float)) \
            or not 0 <= info.date <= MAX_DATE:
        raise ValueError(f"commit date {info.date!r} is not a number of seconds since 1970 "
                         "(before the year 5000)")
    if not isinstance(info.parents, list) or not all(isinstance(p, str) for p in info.parents):
        raise ValueError("commit parents must be a list of hashes")
    return info


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESULT_NAME = re.compile(r"^[0-9a-f]{7,40}-.+\.json$")


def safe_name(text: str) -> str:
    """File-name-safe form of an environment or machine name."""
    return _SAFE.sub("_", text).strip("_") or "default"


def result_path(results_dir: Path, machine: str, commit_hash: str, env_name: str) -> Path:
    return Path(results_dir) / safe_name(machine) / f"{commit_hash[:12]}-{safe_name(env_name)}.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old file or the new one.

    ``allow_nan=False`` makes a NaN that slipped through a bug fail loudly here instead of
    producing a file that strict JSON readers (browsers, jq) reject later.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=False, allow_nan=False)
    write_atomic(path, text + "\n", durable=True)


def save(run: RunResults, results_dir: Path) -> Path:
    if run.commit is None:
        raise HistbenchError("cannot save results without a commit")
    path = result_path(results_dir, run.machine, run.commit.hash, run.env_name)
    write_json_atomic(path, run.to_dict())
    return path


def read_document(path: Path) -> dict[str, Any]:
    """A result file's JSON, checked to be a histbench result of this schema version; any
    problem is one line naming the file. orjson parses it: four times faster than the
    standard library on the large files of long histories (the site reads thousands)."""
    path = Path(path)
    try:
        data = orjson.loads(read_document_bytes(path, "result file"))
    except orjson.JSONDecodeError as exc:
        raise HistbenchError(f"{path}: corrupt result file, not valid JSON "
                             f"(line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise HistbenchError(f"{path}: not a histbench result file (no '{SCHEMA}' schema)")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise HistbenchError(
            f"{path}: result schema version {data.get('schema_version')!r} is not supported "
            f"(this histbench reads version {SCHEMA_VERSION})"
        )
    return data


def malformed(path: Path, exc: Exception) -> HistbenchError:
    return HistbenchError(f"{path}: malformed result file ({type(exc).__name__}: {exc})")


def load(path: Path) -> RunResults:
    """Read one result file; any problem is one line naming the file."""
    data = read_document(path)
    try:
        return RunResults.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise malformed(path, exc) from None


def iter_result_files(results_dir: Path, machine: str) -> list[Path]:
    folder = Path(results_dir) / safe_name(machine)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if _RESULT_NAME.match(p.name))


def load_machine_results(results_dir: Path, machine: str) -> list[RunResults]:
    runs = [load(p) for p in iter_result_files(results_dir, machine)]
    aliases = version_aliases(results_dir)
    for run in runs:
        for r in run.results:
            r.version = aliases.get((r.name, r.version), r.version)
    return runs


def version_aliases(results_dir: Path) -> dict[tuple[str, str], str]:
    """(benchmark, version by histbench's rule before it took asv's) -> the version now.

    Versions were a hash of histbench's own making until they became asv's (so imported
    asv histories continue). Results stored before carry the old hash; the suite
    description keeps each benchmark's old-rule hash too (``legacy_version``), and equal
    old hashes mean the same source, so those results count as the current version: the
    history does not break at the upgrade. Nothing on disk changes; without a readable
    description there is nothing to alias."""
    try:
        info = load_benchmark_info(results_dir)
    except HistbenchError:
        return {}
    return {(name, d["legacy_version"]): str(d["version"]) for name, d in info.items()
            if isinstance(d, dict) and isinstance(d.get("legacy_version"), str)
            and d.get("version") and d["legacy_version"] != d["version"]}


BENCHMARKS_FILE = "benchmarks.json"


def save_benchmark_info(results_dir: Path, infos: dict[str, dict[str, Any]]) -> None:
    """Describe the suite (source, attributes) next to the results, as asv does, so the
    site can show each benchmark's code without the suite at hand. Merged with what is
    there: benchmarks measured earlier keep their description."""
    path = Path(results_dir) / BENCHMARKS_FILE
    current = load_benchmark_info(results_dir)
    current.update(infos)
    write_json_atomic(path, {"schema": "histbench-benchmarks", "benchmarks": current})


def load_benchmark_info(results_dir: Path) -> dict[str, dict[str, Any]]:
    """What the suite said of each benchmark (code, pretty names, params); none before the
    first run. A damaged file is an error rather than pages quietly missing what it holds."""
    path = Path(results_dir) / BENCHMARKS_FILE
    advice = "delete it, and the next run writes it again"
    data = read_state_json(path, "benchmark descriptions", advice)
    if data is None:
        return {}
    ours = isinstance(data, dict) and data.get("schema") == "histbench-benchmarks"
    benchmarks = data.get("benchmarks") if ours else None
    if not isinstance(benchmarks, dict) or not all(isinstance(v, dict)
                                                   for v in benchmarks.values()):
        raise HistbenchError(f"{path}: not a histbench benchmarks file; {advice}")
    return benchmarks
