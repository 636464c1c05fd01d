"""Plots for the site: matplotlib SVG history plots with per-commit hover titles and links.

A plot is three SVG layers of the same size, stacked by CSS, each drawn by matplotlib:

- the y axis (ticks, labels, grid, unit), keyed by its limits and unit;
- the x axis (commit order or dates), keyed by its limits: by default a plot covers only
  the commits where its benchmark has points (``data_span``), and the benchmark page adds
  a whole-history variant when that range is not the whole history;
- the data (environment bands, median lines, CI bands, steps, failures), axes hidden; the
  page names the lines in HTML (``legend``). Environment bands (``SiteData.
  environment_bands``: machine shifts) are light grey spans over their commits.

Why layers: the axes are most of the cost of a small matplotlib plot (tick text layout),
and they repeat. The x axis is the same for every benchmark of a site, and y limits are
rounded out to the locator's ticks, so a few dozen y axes serve hundreds of benchmarks
(x axes of benchmarks that start later than the history are fewer still: one per range).
Each process draws an axis once and reuses it; per benchmark only the data layer is drawn.

Over the data, each commit gets a transparent column, ``<a><rect><title>``, placed with
matplotlib's own data transform: hovering anywhere above a commit names it (hash, date,
subject) with every line's value there, and clicking opens it. No JavaScript, and one
element per commit in the plotted range whatever the number of lines. Output is
deterministic (fixed hash salt, no date), so an unchanged plot is byte-identical.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from html import escape

import matplotlib

matplotlib.use("svg")
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from histbench.analysis.series import PointStatus  # noqa: E402
from histbench.core.formatting import format_ratio, ratio_of, unit_scale  # noqa: E402
from histbench.site.model import SeriesData  # noqa: E402
from histbench.store.results import CommitInfo, params_text  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none",  # text as text: smaller, faster, selectable
    "svg.hashsalt": "histbench",
    "font.size": 9,
})
COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4",
          "#57606a"]
FAIL_COLORS = {PointStatus.FAILED: "#d1242f", PointStatus.BUILD_FAILED: "#9a6700",
               PointStatus.SKIPPED: "#8c959f"}
MAX_LINES = 8
MARKERS_UP_TO = 200  # commits: beyond that, dots per commit are clutter, the line says it
SIZE = (9, 3.4)  # inches at 72 dpi: SVG user units are points
AXES_BOX = (0.08, 0.14, 0.9, 0.8)
Y_TICKS = 5
BAND_COLOR, BAND_ALPHA = "#8c959f", 0.15  # environment bands (machine shifts)


@dataclass
class Timeline:
    """What every plot of one site shares about its commits, computed once per site."""

    order: np.ndarray  # x by history order: 0..n-1
    dates: np.ndarray  # x by date: matplotlib's days since 1970
    heads: list[str]  # escaped hover text naming each commit
    links: list[str]  # escaped href of each commit
    columns: dict = field(default_factory=dict)  # hover column openings per x axis

    @classmethod
    def build(cls, commits: list[CommitInfo], link) -> Timeline:
        heads = [escape(f"{c.short} {_date(c.date)} {c.subject[:80]}") for c in commits]
        return cls(np.arange(len(commits), dtype=float),
                   np.array([c.date / 86400.0 for c in commits]), heads,
                   [escape(link(c)) for c in commits])

    def xs(self, by_date: bool) -> np.ndarray:
        return self.dates if by_date else self.order

    def xlim(self, by_date: bool, span: tuple[int, int] | None = None
             ) -> tuple[float, float]:
        """The x limits of a plot of the whole history, or with ``span`` (first and last
        commit index, inclusive: ``data_span``) of those commits and a small margin,
        within the whole history's limits."""
        xs = self.xs(by_date)
        pad = max(0.5, 0.01 * (xs[-1] - xs[0])) if by_date else 0.5
        whole = float(xs[0] - pad), float(xs[-1] + pad)
        if span is None:
            return whole
        part = xs[span[0]:span[1] + 1]
        low, high = float(part.min()), float(part.max())
        pad = max(0.5, 0.01 * (high - low)) if by_date else 0.5 + 0.02 * (high - low)
        limits = max(whole[0], low - pad), min(whole[1], high + pad)
        return limits if limits[0] < limits[1] else whole  # dates out of order: all

    def band_xs(self, bands: list[tuple[int, int]], by_date: bool) -> list[tuple[float, float]]:
        """The x extent of each environment band (first, last commit index, inclusive):
        by commit order from half a commit before the first to half one after the last;
        by date from the date of the commit before the first (it is what changed between
        the two) to the last's. Bands outside the history are dropped."""
        xs = self.xs(by_date)
        out = []
        for first, last in bands:
            first, last = max(0, int(first)), min(len(xs) - 1, int(last))
            if first > last:
                continue
            if by_date:
                start = xs[first - 1] if first else self.xlim(True)[0]
                out.append((float(min(start, xs[last])), float(max(start, xs[last]))))
            else:
                out.append((first - 0.5, last + 0.5))
        return out

    def visible_bands(self, bands: list[tuple[int, int]], by_date: bool,
                      span: tuple[int, int] | None = None) -> list[tuple[float, float]]:
        """The bands' x extents that overlap the plotted range (``xlim``)."""
        low, high = self.xlim(by_date, span)
        return [(a, b) for a, b in self.band_xs(bands, by_date) if b > low and a < high]

    def shows_bands(self, bands: list[tuple[int, int]],
                    span: tuple[int, int] | None = None) -> bool:
        """Whether a plot of ``span`` (by commit order or by date) shows some band: the
        page names them in its legend only then."""
        return any(self.visible_bands(bands, by_date, span) for by_date in (False, True))


def data_span(series: list[SeriesData]) -> tuple[int, int] | None:
    """First and last commit index (inclusive) where any of ``series`` has a point: a
    measurement, a failure or a skip. A commit that did not build counts from the
    benchmark's first point on (before it, it says nothing of a benchmark that did not
    exist yet); a series with nothing but such commits counts them. None: no points."""
    firsts, lasts = [], []
    for s in series:
        status = s.status
        first = next((i for i, st in enumerate(status) if st not in _NOT_ITS_OWN), None)
        if first is None:
            first = next((i for i, st in enumerate(status) if st != PointStatus.MISSING),
                         None)
            if first is None:
                continue
        firsts.append(first)
        lasts.append(next(i for i in range(len(status) - 1, first - 1, -1)
                          if status[i] != PointStatus.MISSING))
    return (min(firsts), max(lasts)) if firsts else None


_NOT_ITS_OWN = (PointStatus.MISSING, PointStatus.BUILD_FAILED)


def _new_axes() -> Axes:
    ax = Figure(figsize=SIZE, dpi=72).add_axes(AXES_BOX)
    ax.figure.patch.set_alpha(0)
    return ax


class _Canvas:
    """This process's matplotlib Axes, each reused for every layer of its kind (building a
    Figure and Axes costs more than drawing a layer), and the axis layers drawn so far.

    ``layers`` (axis layers by what they show) may be handed in from a cache, so that a
    publish after one new commit draws only the x axes (their limits moved). Only y axes
    are worth caching: a few dozen serve every history, while x axes move with each commit.
    """

    def __init__(self):
        self.data = _new_axes()
        self.data.set_axis_off()
        self.y = self._y_axes()
        self.x = {by_date: self._x_axes(by_date) for by_date in (False, True)}
        self.layers: dict[tuple, str] = {}
        self.drawn: dict[tuple, str] = {}  # y axes drawn here (not from the cache)

    @staticmethod
    def _y_axes() -> Axes:
        ax = _new_axes()
        ax.figure.patch.set_alpha(1)  # the bottom layer carries the background
        ax.yaxis.set_major_locator(ticker.MaxNLocator(Y_TICKS))
        ax.grid(True, axis="y", color="#eaeef2", lw=0.6)
        ax.xaxis.set_visible(False)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        return ax

    @staticmethod
    def _x_axes(by_date: bool) -> Axes:
        ax = _new_axes()
        ax.patch.set_visible(False)
        if by_date:
            # minticks 3 (not 5): with 5 to 7, spans such as 4 years fit no interval, and
            # matplotlib warns on stderr at every plot
            locator = AutoDateLocator(minticks=3, maxticks=7)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        else:
            ax.xaxis.set_major_locator(ticker.MaxNLocator(8, integer=True))
            ax.set_xlabel("commit (history order)")
        ax.yaxis.set_visible(False)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        return ax

    def data_axes(self) -> Axes:
        ax = self.data
        for artist in [*ax.lines, *ax.collections, *ax.texts, *ax.patches]:
            artist.remove()
        return ax

    def y_axis(self, ylim: tuple[float, float], unit: str) -> str:
        key = ("y", ylim, unit)
        if key not in self.layers:
            self.y.set_ylim(*ylim)
            # The unit is the suite's text: shown as it is, never parsed as mathtext.
            self.y.set_ylabel(unit, parse_math=False)
            self.layers[key] = self.drawn[key] = _svg(self.y)
        return self.layers[key]

    def x_axis(self, xlim: tuple[float, float], by_date: bool) -> str:
        key = ("x", xlim, by_date)
        if key not in self.layers:
            self.x[by_date].set_xlim(*xlim)
            self.layers[key] = _svg(self.x[by_date])
        return self.layers[key]


_CANVAS: _Canvas | None = None


def _canvas() -> _Canvas:
    global _CANVAS
    if _CANVAS is None:
        _CANVAS = _Canvas()
    return _CANVAS


def use_axis_layers(cached: dict[tuple, str]) -> None:
    """Take axis layers drawn by an earlier publish (keys and SVG as ``drawn_axis_layers``
    gave them)."""
    _canvas().layers.update(cached)


def drawn_axis_layers() -> dict[tuple, str]:
    """The y axis layers drawn since the last call, to cache them."""
    canvas = _canvas()
    drawn, canvas.drawn = canvas.drawn, {}
    return drawn


def y_limits(low: float, high: float) -> tuple[float, float]:
    """Limits from 0 (or below, for negative values) out to the y locator's ticks around
    the data, so that many benchmarks share one y axis layer."""
    bottom = min(0.0, low)
    if not high > bottom:
        high = bottom + 1.0
    ticks = ticker.MaxNLocator(Y_TICKS).tick_values(bottom, high)
    top = float(next((t for t in ticks if t >= high), ticks[-1]))
    return (float(ticks[0]) if bottom < 0 else 0.0), top


def legend(series: list[SeriesData]) -> list[tuple[str, str]]:
    """(colour, label) of each line the plots draw, for a legend in HTML beside them (a
    matplotlib legend costs more than the rest of the data layer)."""
    return [(COLORS[k % len(COLORS)], _label(s)) for k, s in enumerate(series[:MAX_LINES])]


def _label(s: SeriesData) -> str:
    return params_text(s.params) or s.name.rsplit(".", 1)[-1]


def history_plots(series: list[SeriesData], timeline: Timeline, *, id_prefix: str = "",
                  span: tuple[int, int] | None = None,
                  bands: list[tuple[int, int]] | None = None) -> tuple[str, str]:
    """One benchmark's history as HTML, by commit order and by date: each the three layers
    in a ``div.hb-plot``, one line (with CI band) per parameter set (``legend`` names
    them). ``span``: the commits (first, last index) the x axis covers (``data_span``),
    None for the whole history; ``bands``: environment bands to shade, as
    ``SiteData.environment_bands``."""
    shown = series[:MAX_LINES]
    raw = [tuple(np.array([math.nan if v is None else v for v in values])
                 for values in (s.median, s.ci_low, s.ci_high)) for s in shown]
    medians, lows, highs = (np.concatenate(column) for column in zip(*raw, strict=True))
    tops = highs[np.isfinite(highs)] if np.isfinite(highs).any() else \
        medians[np.isfinite(medians)]
    lows = lows[np.isfinite(lows)]
    factor, unit = unit_scale(series[0].unit, float(np.abs(tops).max()) if tops.size else 1.0)
    ylim = y_limits(float(lows.min()) / factor if lows.size else 0.0,
                    float(tops.max()) / factor if tops.size else 1.0)
    lines = [tuple(values / factor for values in line) for line in raw]
    titles = hover_titles(shown, [_label(s) for s in shown], timeline)
    return tuple(_plot(shown, lines, titles, timeline, by_date, ylim, unit,
                       f"{id_prefix}{'d' if by_date else 'o'}", timeline.xlim(by_date, span),
                       timeline.visible_bands(bands or [], by_date, span))
                 for by_date in (False, True))


def _plot(series: list[SeriesData], lines: list, titles: list[str], timeline: Timeline,
          by_date: bool, ylim: tuple[float, float], unit: str, id_prefix: str,
          xlim: tuple[float, float], bands: list[tuple[float, float]]) -> str:
    canvas = _canvas()
    xs = timeline.xs(by_date)
    ax = canvas.data_axes()
    for j, (x0, x1) in enumerate(bands):  # first: under the lines
        ax.axvspan(x0, x1, facecolor=BAND_COLOR, alpha=BAND_ALPHA, lw=0, gid=f"hb-band-{j}")
    shown = int(np.count_nonzero((xs >= xlim[0]) & (xs <= xlim[1])))
    marker = "o" if shown <= MARKERS_UP_TO else None
    for k, (s, (y, lo, hi)) in enumerate(zip(series, lines, strict=True)):
        color = COLORS[k % len(COLORS)]
        ax.plot(xs, y, color=color, lw=1.2, marker=marker, ms=3)
        _band(ax, xs, lo, hi, color)
        _mark_steps(ax, s, xs, color, k, xlim)
        _mark_failures(ax, s, xs)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    data = _prefix_ids(_svg(ax), f"{id_prefix}2-")
    end = data.rindex("</svg>")
    hover = "".join(f"{opening}{title}</title></rect></a>"
                    for opening, title in zip(_columns(ax, timeline, by_date, xlim), titles,
                                              strict=True) if opening)
    return (f'<div class="hb-plot">{_prefix_ids(canvas.y_axis(ylim, unit), f"{id_prefix}0-")}'
            f'{_prefix_ids(canvas.x_axis(xlim, by_date), f"{id_prefix}1-")}'
            f'{data[:end]}<g class="hb-hit">{hover}</g>{data[end:]}</div>')


def _band(ax: Axes, xs: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    """The CI band: one polygon per run of commits with a CI (fill_between's result, at a
    fifth of its cost)."""
    ok = np.isfinite(lo) & np.isfinite(hi)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    polygons = [np.concatenate([np.column_stack([xs[a:b], lo[a:b]]),
                                np.column_stack([xs[a:b][::-1], hi[a:b][::-1]])])
                for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 1]
    if polygons:
        ax.add_collection(PolyCollection(polygons, facecolors=color, alpha=0.18, lw=0),
                          autolim=False)


def _mark_steps(ax: Axes, s: SeriesData, xs: np.ndarray, color: str, k: int,
                xlim: tuple[float, float]) -> None:
    """Dashed lines between the last good and first bad commit, with the step's ratio."""
    step_xs = [(xs[st.index - 1] + xs[st.index]) / 2 if st.index else xs[0] for st in s.steps]
    if not step_xs:
        return
    # One collection, not one artist per step: histories can have dozens.
    ax.vlines(step_xs, 0, 1, transform=blended_transform_factory(ax.transData, ax.transAxes),
              colors=color, linestyles="--", lw=0.9, alpha=0.8)
    labelled = -math.inf
    span = (xlim[1] - xlim[0]) or 1.0
    for step, x in zip(s.steps, step_xs, strict=True):
        if x - labelled > 0.06 * span:  # labels closer than that would overprint
            label = f"{format_ratio(ratio_of(step.before, step.after), 2)}x"
            ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"),
                        xytext=(2, -10 - 10 * (k % 3)), textcoords="offset points",
                        fontsize=8, color=color)
            labelled = x


def _mark_failures(ax: Axes, s: SeriesData, xs: np.ndarray) -> None:
    """Failed, skipped and unbuildable commits as marks on the axis, never as zeros."""
    if s.status.count(PointStatus.OK) + s.status.count(PointStatus.MISSING) == len(s.status):
        return  # the common case, told without building arrays
    status = np.array([st.value for st in s.status])
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for name, color in FAIL_COLORS.items():
        at = xs[status == name.value]
        if at.size:
            ax.plot(at, np.full(at.size, 0.02), "x", color=color, ms=5, transform=trans)


def _svg(ax: Axes) -> str:
    buf = io.StringIO()
    ax.figure.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _columns(ax: Axes, timeline: Timeline, by_date: bool,
             xlim: tuple[float, float]) -> list[str]:
    """Per commit, the opening of its hover column: a link and a rect over the plot area,
    columns meeting half-way between commits. A plot of part of the history (``xlim``,
    the axes' limits, not the whole history's) has no column for the commits outside it:
    their openings are empty. The same for every plot of a site with those limits."""
    key = (by_date, xlim)
    if key not in timeline.columns:
        xs = timeline.xs(by_date)
        inside = np.arange(len(xs)) if xlim == timeline.xlim(by_date) else \
            np.flatnonzero((xs >= xlim[0]) & (xs <= xlim[1]))
        n = len(inside)
        px = ax.transData.transform(np.column_stack([xs[inside], np.zeros(n)]))[:, 0]
        box = ax.get_window_extent()
        edges = np.empty(n + 1)
        edges[1:-1] = (px[1:] + px[:-1]) / 2
        edges[0], edges[-1] = box.x0, box.x1
        edges = np.clip(edges, box.x0, box.x1)
        top = ax.figure.bbox.height - box.y1
        openings = [""] * len(xs)
        for i, left, right in zip(inside.tolist(), edges[:-1], edges[1:], strict=True):
            openings[i] = (f'<a href="{timeline.links[i]}"><rect x="{left:.1f}" '
                           f'y="{top:.1f}" width="{max(right - left, 0.5):.1f}" '
                           f'height="{box.height:.1f}"><title>')
        timeline.columns[key] = openings
    return timeline.columns[key]


def hover_titles(series: list[SeriesData], labels: list[str], timeline: Timeline) -> list[str]:
    """Escaped hover text per commit: the commit, then every line's value or status."""
    columns = [_value_texts(s, escape(label)) for s, label in zip(series, labels, strict=True)]
    return ["".join(parts) for parts in zip(timeline.heads, *columns, strict=True)]


def _value_texts(s: SeriesData, label: str) -> list[str]:
    """One line of hover text per commit for this series (empty where it has no point),
    escaped: it goes into an SVG ``<title>`` by string formatting, not through a template.
    Values are formatted in one unit chosen once: a thousand points per plot. Values and
    statuses are digits and fixed words; the label (escaped by the caller), the unit (the
    suite's own text, for ``track_`` benchmarks) and reasons are data, escaped here."""
    ok = [abs(v) for v in s.median if v is not None]
    factor, unit = unit_scale(s.unit, max(ok, default=1.0))
    suffix = f" {escape(unit)}" if unit else ""
    out = []
    for status, m, lo, hi, reason in zip(s.status, s.median, s.ci_low, s.ci_high, s.reasons,
                                         strict=True):
        if status == PointStatus.OK:
            low = "n/a" if lo is None else f"{lo / factor:.4g}"
            high = "n/a" if hi is None else f"{hi / factor:.4g}"
            out.append(f"\n{label}: {m / factor:.4g}{suffix} [{low}, {high}]")
        elif status == PointStatus.MISSING:
            out.append("")
        else:
            out.append(f"\n{label}: {status}: {escape(reason[:80])}" if reason else
                       f"\n{label}: {status}")
    return out


def _prefix_ids(svg: str, prefix: str) -> str:
    """Two plots on one page must not share element ids (figure_1, clip paths, markers)."""
    if not prefix:
        return svg
    return (svg.replace(' id="', f' id="{prefix}').replace("url(#", f"url(#{prefix}")
            .replace('href="#', f'href="#{prefix}'))


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts else ""
