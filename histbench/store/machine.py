"""Machine records: ``results/<machine>/machine.json``.

Timings are only comparable when they come from the same hardware and OS, so every results
folder is tied to one machine description and ``save`` refuses to reuse a folder for a
different machine instead of silently mixing numbers. The record also captures the noise
factors of the moment (load, governor, turbo) so a report can explain a jumpy run, but
those are deliberately left out of the identity because they change from run to run.

Everything here reads plain files under ``/proc`` and ``/sys`` (through ``sys_root`` so the
tests can fake them) and degrades to ``None`` where a file is unreadable: a laptop, a
container and a macOS box must all still get a record.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError
from histbench.core.files import read_json, write_atomic

SCHEMA_VERSION = 1
MACHINE_FILE = "machine.json"

# The machine name when --machine is not given, before the hostname: on CI every runner
# has a new hostname, and this names the runner type instead (docs/ci.md).
NAME_VARIABLE = "HISTBENCH_MACHINE"
# The hardware a result is measured on (MachineRecord.fingerprint); memory sizes within
# RAM_TOLERANCE of each other count as one (a kernel reserves a little more or less).
FINGERPRINT = ("arch", "cpu", "cores", "ram_bytes")
RAM_TOLERANCE = 0.05

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")

# Fields a record cannot exist without; the rest are noise factors that may be unreadable
# on some systems and so may be missing from files written elsewhere.
_REQUIRED: dict[str, type] = {
    "name": str,
    "os": str,
    "arch": str,
    "cpu": str,
    "cores": int,
    "ram_bytes": int,
    "python": str,
    "python_implementation": str,
}
_OPTIONAL: dict[str, type] = {
    "cpu_governor": str,
    "turbo": bool,
    "isolated_cpus": str,
    "aslr": int,
}


# Integer fields a machine can have no more of: a 400-digit core count is a corrupt file,
# and would overflow every float it meets.
_LARGEST = {"cores": 2**20, "ram_bytes": 2**64, "aslr": 2}


def validate_name(name: str) -> str:
    """Reject names that could escape ``results/`` or collide with path syntax.

    The name becomes a folder, so ``..``, ``a/b`` or an empty string would write results
    somewhere the user never asked for.
    """
    if (
        not isinstance(name, str)
        or not _NAME_RE.fullmatch(name)
        or set(name) == {"."}
        or len(name) > 255
    ):
        raise HistbenchError(
            f"invalid machine name {name!r}: use only letters, digits, '.', '_' and '-'"
        )
    return name


@dataclass
class MachineRecord:
    """What a results folder was measured on, plus how noisy the machine was at the time."""

    name: str
    os: str
    arch: str
    cpu: str
    cores: int
    ram_bytes: int
    python: str
    python_implementation: str
    cpu_governor: str | None = None
    turbo: bool | None = None
    load_average: tuple[float, float, float] | None = None
    isolated_cpus: str | None = None
    aslr: int | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        validate_name(self.name)

    def identity(self) -> dict[str, Any]:
        """The fields that must agree for two sets of timings to be comparable.

        Load, governor and turbo are excluded: they vary between runs on the same box and
        are reported as noise, not treated as a different machine.
        """
        return {
            "name": self.name,
            "os": self.os,
            "arch": self.arch,
            "cpu": self.cpu,
            "cores": self.cores,
            "ram_bytes": self.ram_bytes,
        }

    def same_machine(self, other: MachineRecord) -> bool:
        return self.identity() == other.identity()

    def fingerprint(self) -> dict[str, Any]:
        """The hardware, stored with every result (``RunResults.fingerprint``): on CI a
        machine name stands for a runner type, and its runners need not all be alike."""
        return {key: getattr(self, key) for key in FINGERPRINT}

    def noise_warnings(self) -> list[str]:
        """Conditions known to make timings jumpy, worded for someone deciding whether to rerun.

        ASLR is not mentioned: it is the normal state and benchmarks are expected to cope.
        """
        warnings: list[str] = []
        if self.load_average is not None and self.cores >= 1:
            one_minute = self.load_average[0]
            if one_minute > 0.5 * self.cores:
                plural = "core" if self.cores == 1 else "cores"
                warnings.append(
                    f"high load average {one_minute:.1f} on {self.cores} {plural}: "
                    "results will be noisy"
                )
        if self.cpu_governor is not None and self.cpu_governor != "performance":
            warnings.append(
                f"CPU frequency governor is {self.cpu_governor!r}, not 'performance': "
                "clock speed may change during a run"
            )
        if self.turbo:
            warnings.append(
                "turbo boost is on: clock speed depends on temperature and other load"
            )
        return warnings

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.load_average is not None:
            data["load_average"] = list(self.load_average)
        return data

    @classmethod
    def from_dict(cls, d: Any) -> MachineRecord:
        """Build a record from parsed JSON, naming the first field that is missing or wrong.

        Unknown keys are ignored so that a newer histbench adding a field does not make
        older ones refuse the file; missing noise factors simply become ``None``.
        """
        if not isinstance(d, dict):
            raise HistbenchError(
                f"not a histbench machine record (expected a JSON object, got {_json_type(d)})"
            )
        for key in _REQUIRED:
            if key not in d:
                raise HistbenchError(f"not a histbench machine record (missing {key!r})")
        version = d.get("schema_version", SCHEMA_VERSION)
        if not _is_type(version, int):
            raise HistbenchError(_wrong_type("schema_version", "an integer", version))
        if version != SCHEMA_VERSION:
            raise HistbenchError(
                f"machine record schema version {version} is not supported "
                f"(this histbench reads version {SCHEMA_VERSION})"
            )
        kwargs: dict[str, Any] = {}
        for key, typ in _REQUIRED.items():
            if not _is_type(d[key], typ):
                raise HistbenchError(_wrong_type(key, _type_word(typ), d[key]))
            kwargs[key] = d[key]
        for key, typ in _OPTIONAL.items():
            value = d.get(key)
            if value is not None and not _is_type(value, typ):
                raise HistbenchError(_wrong_type(key, _type_word(typ) + " or null", value))
            kwargs[key] = value
        for key, top in _LARGEST.items():
            value = kwargs.get(key)
            if value is not None and not 0 <= value <= top:
                raise HistbenchError(f"{key} {value} is not a plausible value (0 to {top})")
        kwargs["load_average"] = _parse_load_average(d.get("load_average"))
        return cls(**kwargs, schema_version=version)


def _is_type(value: Any, typ: type) -> bool:
    # bool is a subclass of int, but ``"cores": true`` is a corrupt file, not one core.
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def _type_word(typ: type) -> str:
    return {str: "a string", int: "an integer", bool: "true/false"}[typ]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _wrong_type(key: str, expected: str, value: Any) -> str:
    return f"malformed machine record ({key!r} should be {expected}, got {_json_type(value)})"


def _parse_load_average(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    ):
        raise HistbenchError(_wrong_type("load_average", "three numbers or null", value))
    return (float(value[0]), float(value[1]), float(value[2]))


# --------------------------------------------------------------------------- collection


def _read(sys_root: str, rel: str) -> str | None:
    """Contents of a /proc or /sys file, or None: absence is normal off Linux or in containers."""
    try:
        return (Path(sys_root) / rel).read_text(errors="replace")
    except (OSError, ValueError):
        return None


def _read_int(sys_root: str, rel: str) -> int | None:
    text = _read(sys_root, rel)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _cpu_model(sys_root: str) -> str:
    text = _read(sys_root, "proc/cpuinfo")
    if text:
        # x86 says "model name"; some ARM and other kernels only offer these instead.
        for wanted in ("model name", "hardware", "cpu model", "model"):
            for line in text.splitlines():
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() == wanted and value.strip():
                    return " ".join(value.split())
    return platform.processor().strip() or "unknown"


def _ram_bytes(sys_root: str) -> int:
    text = _read(sys_root, "proc/meminfo")
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                parts = line.split()
                try:
                    amount = int(parts[1])
                except (IndexError, ValueError):
                    break
                unit = parts[2].lower() if len(parts) > 2 else "b"
                return amount * {"kb": 1024, "mb": 1024**2, "gb": 1024**3}.get(unit, 1)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def _turbo(sys_root: str) -> bool | None:
    no_turbo = _read_int(sys_root, "sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return no_turbo == 0
    boost = _read_int(sys_root, "sys/devices/system/cpu/cpufreq/boost")
    if boost is not None:
        return boost != 0
    return None


def _load_average() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return (float(one), float(five), float(fifteen))


def _default_name() -> str:
    """The hostname, made folder-safe: an odd hostname should not stop ``histbench machine``."""
    host = socket.gethostname() or platform.node()
    name = _UNSAFE_RE.sub("_", host).strip("_")[:255]
    if not name or set(name) == {"."}:
        return "unknown-host"
    return name


def collect(name: str | None = None, *, sys_root: str = "/") -> MachineRecord:
    """Describe the machine running histbench now.

    ``sys_root`` replaces ``/`` for the /proc and /sys reads only, so tests can supply a
    fake tree; hostname, OS and interpreter always come from the live process.
    """
    if name is None and os.environ.get(NAME_VARIABLE):
        name = os.environ[NAME_VARIABLE]
    name = _default_name() if name is None else validate_name(name)
    governor = _read(sys_root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    isolated = _read(sys_root, "sys/devices/system/cpu/isolated")
    return MachineRecord(
        name=name,
        os=f"{platform.system()} {platform.release()}".strip() or "unknown",
        arch=platform.machine() or "unknown",
        cpu=_cpu_model(sys_root),
        cores=os.cpu_count() or 1,
        ram_bytes=_ram_bytes(sys_root),
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        cpu_governor=(governor.strip() or None) if governor is not None else None,
        turbo=_turbo(sys_root),
        load_average=_load_average(),
        isolated_cpus=(isolated.strip() or None) if isolated is not None else None,
        aslr=_read_int(sys_root, "proc/sys/kernel/randomize_va_space"),
    )


# --------------------------------------------------------------------------- storage


def machine_path(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / validate_name(name) / MACHINE_FILE


def _describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = [f"{key}: {old.get(key)!r} vs {new[key]!r}" for key in new if old.get(key) != new[key]]
    return ", ".join(parts)


def save(record: MachineRecord, results_dir: Path) -> Path:
    """Write the record, refusing to overwrite one that describes different hardware.

    Overwriting with the same identity is expected (the noise factors are refreshed each
    run). The write is atomic so a crash never leaves a truncated machine.json that would
    block every later run.
    """
    path = machine_path(results_dir, record.name)
    if path.exists():
        existing = load(path)
        if not existing.same_machine(record):
            diff = _describe_difference(existing.identity(), record.identity())
            raise HistbenchError(
                f"{path} describes a different machine ({diff}); "
                "pass --machine NAME to use another name"
            )
    text = json.dumps(record.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(path, text, durable=True)
    return path


def fingerprint_difference(recorded: dict[str, Any], measured: dict[str, Any],
                           were: str = "record") -> str | None:
    """How the hardware a result was measured on differs from the machine record's, as
    ``cpu 'B' (record: 'A'), cores 4 (record: 2)``; None when alike (or either is unknown:
    results written before fingerprints). ``were`` names what ``recorded`` is (event
    finding compares consecutive results: "before")."""
    if not recorded or not measured:
        return None
    parts = []
    for key in FINGERPRINT:
        old, new = recorded.get(key), measured.get(key)
        if old is None or new is None or old == new:
            continue
        if key == "ram_bytes" and isinstance(old, int) and isinstance(new, int) \
                and abs(new - old) <= RAM_TOLERANCE * max(old, new):
            continue
        if key == "ram_bytes":
            parts.append(f"ram {_gib(new)} ({were}: {_gib(old)})")
        else:
            parts.append(f"{key} {new!r} ({were}: {old!r})")
    return ", ".join(parts) or None


def _gib(value: Any) -> str:
    return f"{value / 1024**3:.1f} GiB" if isinstance(value, int) else repr(value)


def record_for_run(record: MachineRecord, results_dir: Path) -> list[str]:
    """What ``run`` saves: like ``save``, but a record of other hardware under the same
    name is kept (it stays the history's reference) with a warning instead of an error.
    On CI a name stands for a runner type; each result keeps its own fingerprint, and the
    site marks those measured on other hardware. Another OS alone (a new runner image)
    updates the record, said too. Returns the warning lines."""
    path = machine_path(results_dir, record.name)
    if not path.exists():
        save(record, results_dir)
        return []
    existing = load(path)
    diff = fingerprint_difference(existing.fingerprint(), record.fingerprint())
    if diff:
        return [f"this machine's hardware differs from {path} ({diff}): results are saved "
                "under the same name with their own fingerprint, and marked on the site"]
    warnings = []
    if existing.os != record.os:
        warnings.append(f"{path}: OS changed ({existing.os!r} -> {record.os!r}); "
                        "record updated")
    # Memory within the tolerance, or the OS changed: the new record replaces the old.
    write_atomic(path, json.dumps(record.to_dict(), indent=2, sort_keys=True,
                                  allow_nan=False) + "\n", durable=True)
    return warnings


def load(path: Path) -> MachineRecord:
    """Read one machine.json; every problem is a single line that starts with the path."""
    path = Path(path)
    data = read_json(path, "machine record")
    try:
        return MachineRecord.from_dict(data)
    except HistbenchError as exc:
        raise HistbenchError(f"{path}: {exc}") from None


def missing_record(results_dir: Path, name: str) -> str | None:
    """Why a machine with results has no usable record, or None: its results would then be
    shown, or added to, with nothing to say what they were measured on."""
    from histbench.store.results import iter_result_files

    path = machine_path(results_dir, name)
    if path.is_file():
        try:
            load(path)
        except HistbenchError as exc:
            return str(exc)
        return None
    if iter_result_files(results_dir, name):
        return f"{path}: missing, though {path.parent} holds results"
    return None


def list_machines(results_dir: Path) -> list[MachineRecord]:
    """Every machine with a results folder; a corrupt record fails loudly rather than hiding."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    records = [load(p) for p in results_dir.glob(f"*/{MACHINE_FILE}") if p.is_file()]
    return sorted(records, key=lambda r: r.name)


# --------------------------------------------------------------------------- display


def _on_off(value: bool | None) -> str:
    return "unknown" if value is None else ("on" if value else "off")


def format_record(record: MachineRecord) -> str:
    """Text for ``histbench machine``: the description, then any reasons to distrust a run."""
    gib = record.ram_bytes / 1024**3
    load = (
        "unknown"
        if record.load_average is None
        else " ".join(f"{v:.2f}" for v in record.load_average)
    )
    rows = [
        ("machine", record.name),
        ("os", record.os),
        ("arch", record.arch),
        ("cpu", record.cpu),
        ("cores", str(record.cores)),
        ("ram", f"{gib:.1f} GiB"),
        ("python", f"{record.python} ({record.python_implementation})"),
        ("governor", record.cpu_governor or "unknown"),
        ("turbo", _on_off(record.turbo)),
        ("load", load),
        ("isolated", record.isolated_cpus or "none"),
        ("aslr", "unknown" if record.aslr is None else str(record.aslr)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines += [f"warning: {w}" for w in record.noise_warnings()]
    return "\n".join(lines)
