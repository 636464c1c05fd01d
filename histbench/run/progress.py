"""Progress of a history run: a live bar with ETA on a terminal, plain lines in CI logs.

A CI log is read after the fact, so it gets one line per event and no carriage returns; a
person at a terminal wants one line that updates in place and says when it will be done.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counts units of work (one benchmark of one commit, one round) for the ETA."""

    def __init__(self, total_units: int, stream: TextIO | None = None,
                 live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.total = max(1, total_units)
        self.done = 0
        self.start = time.monotonic()
        self.where = ""

    def eta(self) -> str:
        if self.done == 0:
            return "?"
        elapsed = time.monotonic() - self.start
        return _clock(elapsed / self.done * (self.total - self.done))

    def message(self, text: str) -> None:
        """A line that stays (build failures, saved files)."""
        if self.live:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.live and self.where:
            self._draw()

    def position(self, where: str) -> None:
        self.where = where
        if self.live:
            self._draw()
        else:
            self.stream.write(f"{where}\n")
            self.stream.flush()

    def advance(self, units: int = 1) -> None:
        self.done = min(self.total, self.done + units)
        if self.live:
            self._draw()

    def _draw(self) -> None:
        width = 24
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        line = f"[{bar}] {100 * self.done // self.total:3d}% ETA {self.eta()}  {self.where}"
        self.stream.write("\r\x1b[K" + line[:150])
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
