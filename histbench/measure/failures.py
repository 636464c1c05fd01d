"""How the worker words a failure for the parent, which records the words verbatim.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import traceback

TAIL_CHARS = 2000  # how much of a traceback or a child's stderr is passed on


class Skipped(Exception):
    """setup raised NotImplementedError: the benchmark does not apply to this parameter set."""


class BenchmarkFailed(Exception):
    """A one-line reason the parent records verbatim."""


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def last_line(text: str) -> str:
    """A child process's last words, usually the exception it died of."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def traceback_tail() -> str:
    return traceback.format_exc()[-TAIL_CHARS:]
