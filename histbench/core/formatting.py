"""Plain-text rendering shared by the commands: values with units, and aligned tables."""

from __future__ import annotations

import math

from histbench.core.modes import COUNT_KINDS

_TIME_STEPS = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
_BYTE_STEPS = ((1, "B"), (1024, "KiB"), (1024**2, "MiB"), (1024**3, "GiB"))
_COUNT_STEPS = ((1, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def format_value(value: float, unit: str) -> str:
    """Scale to a readable unit with 3-4 significant digits, so columns compare at a glance."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "seconds":
        return _scaled(value, _TIME_STEPS)
    if unit == "bytes":
        return _scaled(value, _BYTE_STEPS)
    if unit in COUNT_KINDS:  # 11.09 M instructions (a count's kind is its unit)
        scale, prefix = _step_for(abs(value), _COUNT_STEPS)
        return f"{value / scale:.4g} {prefix + ' ' if prefix else ''}{unit}"
    text = f"{value:.4g}"
    return text if unit in ("unit", "") else f"{text} {unit}"


def ratio_of(before: float, after: float) -> float | None:
    """after / before where that means "so many times": on a positive scale. Across zero,
    or below it, a ratio reads backwards (-20 / -10 = 2 is a fall), so there is none;
    a ratio too large for a float is none either, rather than a 300-digit figure."""
    if not before > 0 or not after >= 0:
        return None
    ratio = after / before
    return ratio if math.isfinite(ratio) else None


def format_ratio(ratio: float | None, digits: int = 3) -> str:
    """Fixed decimals in the range ratios live in, powers of ten outside it."""
    if ratio is None or not math.isfinite(ratio):
        return "n/a"
    if ratio == 0 or 1e-3 <= abs(ratio) < 1e4:
        return f"{ratio:.{digits}f}"
    return f"{ratio:.{digits}g}"


def _scaled(value: float, steps: tuple[tuple[float, str], ...]) -> str:
    scale, name = _step_for(abs(value), steps)
    return f"{value / scale:.4g} {name}"


def _step_for(magnitude: float, steps: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    scale, name = steps[0]
    for factor, label in steps:
        if magnitude >= factor:
            scale, name = factor, label
    return scale, name


def unit_scale(unit: str, magnitude: float) -> tuple[float, str]:
    """One display unit for values up to ``magnitude`` (a plot axis, a column): the factor
    to divide by and its name, so 0.0012 s reads 1.2 ms."""
    if unit == "seconds":
        return _step_for(magnitude, _TIME_STEPS)
    if unit == "bytes":
        return _step_for(magnitude, _BYTE_STEPS)
    if unit in COUNT_KINDS:  # a plot axis in M instructions
        scale, prefix = _step_for(magnitude, _COUNT_STEPS)
        return scale, f"{prefix + ' ' if prefix else ''}{unit}"
    return 1.0, "" if unit in ("unit", "") else unit


def render_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)
