"""The words result files use for what became of a benchmark or a build, as Enums.

They are ``str`` Enums that print as their values, so the JSON files, the CLI's tables
and the site read ``ok`` and ``failed`` exactly as they did when these were strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class TextEnum(str, Enum):
    """A str Enum that prints as its value, as ``enum.StrEnum`` (Python 3.11+) does: its
    members are written into JSON files and CLI tables, which must read ``ok``, not
    ``Status.OK``."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Status(TextEnum):
    """What became of one benchmark at one parameter set."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # setup raised NotImplementedError: it does not apply here


STATUSES = tuple(s.value for s in Status)


class BuildStatus(TextEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class BuildRecord:
    """How a commit's build went, as its result file's ``build`` object keeps it: ``reason``
    and ``log_tail`` when it failed, ``cached`` (the wheel came from the cache) when it did
    not; absent fields are left out of the file."""

    status: BuildStatus = BuildStatus.OK
    reason: str | None = None
    log_tail: str | None = None
    cached: bool | None = None
    duration: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == BuildStatus.OK

    @property
    def failed(self) -> bool:
        return self.status == BuildStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": BuildStatus(self.status).value}
        for key in ("reason", "log_tail", "cached", "duration"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildRecord:
        """Lenient, as the file format always was: only ``failed`` marks a failed build."""
        if not isinstance(data, dict):
            raise TypeError("build is not an object")
        failed = data.get("status") == BuildStatus.FAILED
        return cls(status=BuildStatus.FAILED if failed else BuildStatus.OK,
                   reason=data.get("reason"), log_tail=data.get("log_tail"),
                   cached=data.get("cached"), duration=data.get("duration"))
