"""Plots for the site: matplotlib SVG history plots with per-commit hover titles and links.

matplotlib draws the plot (median line, CI band, steps, failures); the per-commit points
are then added to its SVG as ``<a><circle><title>`` elements placed with matplotlib's own
data transform. One element per commit, no JavaScript: hovering shows the commit, clicking
opens it. Output is deterministic (fixed hash salt, no date) so an unchanged plot is
byte-identical and an incremental publish can skip writing it.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Callable
from html import escape

import matplotlib

matplotlib.use("svg")
from matplotlib import ticker  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from histbench.results import CommitInfo  # noqa: E402
from histbench.site_model import SeriesData  # noqa: E402
from histbench.text import format_value  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none",  # text as text: smaller, faster, selectable
    "svg.hashsalt": "histbench",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
})
COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4",
          "#57606a"]
FAIL_COLORS = {"failed": "#d1242f", "build-failed": "#9a6700", "skipped": "#8c959f"}
MAX_LINES = 8


def _scale(unit: str, values: list[float]) -> tuple[float, str]:
    """A display unit for the y axis, so ticks read 1.2 ms rather than 0.0012."""
    top = max((abs(v) for v in values), default=1.0) or 1.0
    if unit == "seconds":
        for factor, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if top >= factor:
                return factor, name
        return 1e-9, "ns"
    if unit == "bytes":
        for factor, name in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
            if top >= factor:
                return factor, name
        return 1.0, "B"
    return 1.0, "" if unit == "unit" else unit


def history_svg(series: list[SeriesData], commits: list[CommitInfo], *, by_date: bool,
                link: Callable[[CommitInfo], str], id_prefix: str = "") -> str:
    """One benchmark's history; one line (with CI band) per parameter set."""
    n = len(commits)
    # matplotlib's dates are days since 1970-01-01: converting in bulk is 40x cheaper than
    # date2num on one datetime at a time.
    xs = [c.date / 86400.0 for c in commits] if by_date else list(range(n))
    values = [v for s in series for v in s.median if v is not None]
    factor, unit = _scale(series[0].unit, values)
    fig = Figure(figsize=(9, 3.4), dpi=72)
    ax = fig.add_axes((0.08, 0.14, 0.9, 0.8))
    points: list[tuple[float, float, str, str, str]] = []
    for k, s in enumerate(series[:MAX_LINES]):
        color = COLORS[k % len(COLORS)]
        y = [v / factor if v is not None else math.nan for v in s.median]
        lo = [v / factor if v is not None else math.nan for v in s.ci_low]
        hi = [v / factor if v is not None else math.nan for v in s.ci_high]
        label = ", ".join(f"{a}={b}" for a, b in s.params.items()) or s.name.rsplit(".", 1)[-1]
        ax.plot(xs, y, color=color, lw=1.2, label=label)
        ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)
        labelled = -math.inf
        span = (xs[-1] - xs[0]) or 1.0
        step_xs = [(xs[st.index - 1] + xs[st.index]) / 2 if st.index else xs[0]
                   for st in s.steps]
        if step_xs:  # one collection, not one artist per step: histories can have dozens
            ax.vlines(step_xs, 0, 1, transform=blended_transform_factory(ax.transData,
                                                                         ax.transAxes),
                      colors=color, linestyles="--", lw=0.9, alpha=0.8)
        for step, x in zip(s.steps, step_xs, strict=True):
            if x - labelled > 0.06 * span:  # labels closer than that would overprint
                ax.annotate(f"{step.ratio:.2f}x", (x, 1), xycoords=("data", "axes fraction"),
                            xytext=(2, -10 - 10 * (k % 3)), textcoords="offset points",
                            fontsize=8, color=color)
                labelled = x
        for i, v in enumerate(s.median):
            if v is not None:
                c = commits[i]
                text = (f"{c.short} {_date(c.date)} {c.subject[:80]}\n{label}: "
                        f"{format_value(v, s.unit)} "
                        f"[{format_value(s.ci_low[i], s.unit)}, "
                        f"{format_value(s.ci_high[i], s.unit)}]")
                points.append((xs[i], v / factor, link(c), text, color))
        _mark_failures(ax, s, xs, commits)
    ax.set_ylabel(unit)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(5))
    if by_date:
        locator = AutoDateLocator(maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(8, integer=True))
        ax.set_xlabel("commit (history order)")
    if len(series) > 1:
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=min(4, len(series)))
    ax.grid(True, axis="y", color="#eaeef2", lw=0.6)
    if values:
        low = min(values) / factor
        ax.set_ylim(bottom=min(0, low) if low < 0 else 0)
    pad = 0.5 if not by_date else max(0.5, 0.01 * (xs[-1] - xs[0]))
    ax.set_xlim(xs[0] - pad, xs[-1] + pad)
    return _prefix_ids(_with_points(fig, ax, points), id_prefix)


_ID = re.compile(r'(\bid="|url\(#|href="#)([^"\)]+)')


def _prefix_ids(svg: str, prefix: str) -> str:
    """Two plots on one page must not share element ids (figure_1, clip paths, markers)."""
    if not prefix:
        return svg
    return _ID.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


def _mark_failures(ax, s: SeriesData, xs: list[float], commits: list[CommitInfo]) -> None:
    """Failed, skipped and unbuildable commits as marks on the axis, never as zeros."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for status, color in FAIL_COLORS.items():
        at = [xs[i] for i, st in enumerate(s.status) if st == status]
        if at:
            ax.plot(at, [0.02] * len(at), "x", color=color, ms=5, transform=trans,
                    label=f"{status}")


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts else ""


def _with_points(fig: Figure, ax, points) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    height = fig.get_figheight() * 72
    parts = ['<g class="hb-points">']
    if points:
        xy = ax.transData.transform([(x, y) for x, y, *_ in points])
        for (px, py), (_, _, url, text, color) in zip(xy, points, strict=True):
            parts.append(
                f'<a href="{escape(url)}"><circle cx="{px:.1f}" cy="{height - py:.1f}" r="2.6" '
                f'fill="{color}"><title>{escape(text)}</title></circle></a>')
    parts.append("</g>")
    end = svg.rindex("</svg>")
    return svg[:end] + "".join(parts) + svg[end:]


def sparkline(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """A tiny inline SVG polyline of the medians: drawn by hand, it is cheap enough to put
    hundreds on the index page."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return f'<svg class="spark" width="{width}" height="{height}"></svg>'
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    last = max(1, len(values) - 1)
    coords = " ".join(f"{i / last * (width - 2) + 1:.1f},"
                      f"{height - 2 - (v - lo) / span * (height - 4):.1f}" for i, v in pts)
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" aria-hidden="true"><polyline fill="none" stroke="currentColor" '
            f'stroke-width="1.2" points="{coords}"/></svg>')
