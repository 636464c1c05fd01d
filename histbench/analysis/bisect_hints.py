"""What to do about a step that spans several commits: the bisect command to paste.

A step's last good and first bad commits are neighbours only when every commit was
measured; a history sampled with ``run --steps`` (or built up night by night) leaves
commits between them, and the user's next move is a bisect of exactly that range and
series. `regressions` and the site both offer it, spelled here once.
"""

from __future__ import annotations

from typing import Protocol

from histbench.analysis.name_match import shell_quote
from histbench.store.results import CommitInfo


class _Step(Protocol):
    last_good: CommitInfo | None
    first_bad: CommitInfo

    @property
    def series(self): ...


def span_of(change: _Step, position: dict[str, int]) -> int | None:
    """Commits from the last good (excluded) to the first bad (included) in the branch's
    first-parent history (``position``: hash -> index); None when either is not in it."""
    if change.last_good is None:
        return None
    good, bad = change.last_good.hash, change.first_bad.hash
    if good not in position or bad not in position:
        return None
    return position[bad] - position[good]


def bisect_command(change: _Step, machine: str) -> str:
    """The command that bisects a step: the exact series, never a regex that a later
    benchmark could also match."""
    good = change.last_good.hash[:12] if change.last_good else "?"
    return (f"histbench bisect {good} {change.first_bad.hash[:12]} "
            f"-b {shell_quote(change.series.label)} --machine {shell_quote(machine)}")


def bisect_hint(change: _Step, machine: str, position: dict[str, int]) -> str | None:
    """The command, where the step spans more than one commit."""
    span = span_of(change, position)
    return bisect_command(change, machine) if span is not None and span > 1 else None
