"""Regexes from users (``-b``, config ``thresholds``): compiled in one place, so that every
way a pattern can fail is one line naming it, never a traceback."""

from __future__ import annotations

import re

from histbench.core.errors import HistbenchError


def compile_pattern(text: str, what: str = "") -> re.Pattern[str]:
    """``re.compile``, with its errors as a HistbenchError: a bad regex (``re.error``), a
    repeat count too large (``OverflowError``), nesting too deep (``RecursionError``)."""
    try:
        return re.compile(text)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise HistbenchError(f"{what}{text!r}: not a valid regex ({exc})") from None
