"""Sparklines for the index: a tiny inline SVG per benchmark, drawn by hand.

Hundreds sit on one page, and the summary pages are rendered on every publish: a
matplotlib figure each would cost more than the rest of the index put together.
"""

from __future__ import annotations


def sparkline(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """A tiny inline SVG polyline of the medians, at most a point per pixel (the median of
    the commits that fall on it): a thousand points in 120 pixels draw nothing more."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return f'<svg class="spark" width="{width}" height="{height}"></svg>'
    last = max(1, len(values) - 1)
    if len(pts) > width:
        buckets: dict[int, list[float]] = {}
        for i, v in pts:
            buckets.setdefault(round(i / last * (width - 1)), []).append(v)
        pts = [(k * last / (width - 1), sorted(vs)[len(vs) // 2]) for k, vs in buckets.items()]
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    coords = " ".join(f"{i / last * (width - 2) + 1:.1f},"
                      f"{height - 2 - (v - lo) / span * (height - 4):.1f}" for i, v in pts)
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" aria-hidden="true"><polyline fill="none" stroke="currentColor" '
            f'stroke-width="1.2" points="{coords}"/></svg>')
