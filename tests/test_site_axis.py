"""The benchmark plots' x axis covers the commits where the benchmark has points (a control
shows the whole history), environment bands (machine shifts) are shaded on the plots, and
table cells never cut figures.

Histories are written through the storage API (no repository, no runs): fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from histbench.core.config import load_config
from histbench.site import templating
from histbench.site.model import ResultCache, load_site_data
from histbench.site.page_writer import PageWriter
from histbench.site.pages.benchmark import BenchmarkPages, BenchmarkSettings
from histbench.site.publisher import Publisher
from histbench.store import results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults

COMMITS = 30
LATE_FROM = 20  # the late benchmark has results from this commit on: the last third
ALL, LATE = "bench_mod.time_all", "bench_mod.time_late"


def sha(i: int) -> str:
    return hashlib.sha1(f"axis commit {i}".encode()).hexdigest()


def commit(i: int) -> CommitInfo:
    return CommitInfo(hash=sha(i), date=1_700_000_000.0 + 86_400 * i, author="a",
                      subject=f"change {i}", parents=[sha(i - 1)] if i else [], branch="main")


def result(name: str, level: float) -> BenchmarkResult:
    """Three processes of five samples around ``level``, fixed."""
    samples = [[level * (1 + 0.001 * ((p * 5 + k) % 7)) for k in range(5)] for p in range(3)]
    return BenchmarkResult(name=name, kind="time", params={}, unit="seconds", version="1",
                           process_samples=samples).with_stats()


def write_history(root: Path, levels) -> Path:
    """A project whose results are ``levels(i)`` ({name: level}) at each commit; returns
    its config path."""
    (root / "histbench.json").write_text(json.dumps({"project": "axis"}))
    config = load_config(root / "histbench.json")
    names = set()
    for i in range(COMMITS):
        at = levels(i)
        names |= set(at)
        results.save(RunResults(machine="m", env_name="py", commit=commit(i), python="3",
                                requirements={}, settings={},
                                results=[result(n, v) for n, v in sorted(at.items())]),
                     config.results_dir)
    results.save_benchmark_info(config.results_dir, {
        n: {"module": "bench_mod", "kind": "time", "code": "def f(): pass"} for n in names})
    return root / "histbench.json"


def late_levels(i: int) -> dict[str, float]:
    return {ALL: 1.0, **({LATE: 2.0} if i >= LATE_FROM else {})}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_history(tmp_path_factory.mktemp("axis"), late_levels)


@pytest.fixture(scope="module")
def site(project) -> Path:
    html = project.parent / "html"
    Publisher(load_config(project), html, jobs=1).publish()
    return html


def page(html: Path, name: str) -> str:
    slug = next(p.name for p in html.iterdir() if p.name.startswith("m--"))
    return (html / slug / "b" / f"{name}.html").read_text()


def hover_commits(part: str) -> list[list[int]]:
    """Per plot in ``part`` of a page (commit order, then date), the commits of its hover
    columns, as indices into the history."""
    index = {sha(i)[:8]: i for i in range(COMMITS)}
    return [[index[t.split(" ", 1)[0]] for t in re.findall(r"<title>([^<]*)", hit)]
            for hit in re.findall(r'<g class="hb-hit">(.*?)</g>', part, re.S)]


def variants(text: str) -> tuple[str, str]:
    """A benchmark page's default plots and its whole-history plots ('' if none)."""
    start = text.find('<div class="x-whole"')
    if start < 0:
        return text, ""
    return text[:start], text[start:]


def x_ticks(plot_html: str) -> list[float]:
    """The tick labels of the first plot's x axis layer (its second SVG), as numbers."""
    layer = re.findall(r"<svg.*?</svg>", plot_html, re.S)[1]
    return [float(t.replace("\u2212", "-")) for t in re.findall(r">\s*(-?[\d.\u2212]+)\s*</text>",
                                                                 layer)]


def test_late_benchmark_plots_only_its_commits_by_default(site):
    default, whole = variants(page(site, LATE))
    order, date = hover_commits(default)
    assert order == date  # both x variants cover the same commits
    assert set(range(LATE_FROM, COMMITS)) <= set(order) <= set(range(LATE_FROM - 1, COMMITS))
    assert order == sorted(order)  # columns in history order
    ticks = x_ticks(default)
    assert ticks and min(ticks) >= LATE_FROM - 2 and max(ticks) <= COMMITS, ticks
    # The control, and the whole history behind it, by commit and by date.
    assert 'class="hb-whole"' in default and whole
    assert hover_commits(whole) == [list(range(COMMITS))] * 2
    assert min(x_ticks(whole)) <= 1
    assert "10 of 30 commits" in default


def test_benchmark_with_points_everywhere_gets_one_variant(site):
    text = page(site, ALL)
    assert 'class="x-whole"' not in text and 'class="hb-whole"' not in text
    assert hover_commits(text) == [list(range(COMMITS))] * 2


def test_republish_is_byte_identical_and_incremental(site, project, tmp_path):
    again = Publisher(load_config(project), site, jobs=1).publish()
    assert not [p for p in again.written if "/b/" in p]
    fresh = tmp_path / "html"
    Publisher(load_config(project), fresh, jobs=1).publish()
    for name in (ALL, LATE):
        assert page(fresh, name) == page(site, name)


def test_failures_count_as_points(tmp_path):
    from histbench.analysis.series import PointStatus
    from histbench.site.model import SeriesData
    from histbench.site.plots import data_span

    def series(statuses):
        return SeriesData(key=("b", ()), name="b", params={}, kind="time", unit="seconds",
                          version="1", higher_is_better=False,
                          status=[PointStatus(s) for s in statuses])

    m, ok, failed, nobuild = (PointStatus.MISSING.value, PointStatus.OK.value,
                              PointStatus.FAILED.value, PointStatus.BUILD_FAILED.value)
    assert data_span([series([m, nobuild, m, failed, ok, m, nobuild, m])]) == (3, 6)
    assert data_span([series([m, ok, m, m]), series([m, m, m, failed])]) == (1, 3)
    assert data_span([series([m, nobuild, m])]) == (1, 1)
    assert data_span([series([m, m])]) is None


# Environment bands ------------------------------------------------------------------------

def write_benchmark_pages(project: Path, html: Path, bands: list[tuple[int, int]]) -> list[str]:
    """The benchmark pages of the project, with ``bands`` set on its site (as the
    publisher's environment events do); returns the pages written."""
    config = load_config(project)
    sites = load_site_data(config.results_dir, "m", ResultCache(html / "r.pickle"))
    for s in sites:
        s.environment_bands = list(bands)
    settings = BenchmarkSettings(config, 0.05, {}, results.load_benchmark_info(
        config.results_dir))
    pages = BenchmarkPages(sites, settings, {})
    writer = PageWriter.open(html, templating.environment(), "axis",
                             templating.page_code_digest())
    pages.write(writer, 0, tuple(sites[0].benchmarks()))
    return writer.finish().written


def band_x(svg: str, j: int) -> tuple[float, float]:
    """The x extent of band ``j``'s patch in the first plot of ``svg``."""
    group = re.search(rf'id="[^"]*hb-band-{j}">\s*<path d="([^"]*)"', svg)
    assert group, f"band {j} not drawn"
    xs = [float(x) for x in re.findall(r"(-?[\d.]+) -?[\d.]+", group.group(1))]
    return min(xs), max(xs)


def columns(svg: str) -> list[tuple[float, float]]:
    """The first plot's hover columns: (left, right) per commit."""
    hit = re.search(r'<g class="hb-hit">(.*?)</g>', svg, re.S).group(1)
    return [(float(x), float(x) + float(w))
            for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', hit)]


def test_bands_are_shaded_over_their_commits(project, tmp_path):
    html = tmp_path / "html"
    write_benchmark_pages(project, html, [(10, 12), (3, 3)])
    text = (html / "m--py" / "b" / f"{ALL}.html").read_text()
    cols = columns(text)
    assert len(cols) == COMMITS
    for j, (first, last) in enumerate([(10, 12), (3, 3)]):
        left, right = band_x(text, j)
        assert left == pytest.approx(cols[first][0], abs=0.2)
        assert right == pytest.approx(cols[last][1], abs=0.2)
    assert 'style="fill: #8c959f; opacity: 0.15' in text or "opacity: 0.15" in text
    assert "machine shift" in text
    # The late benchmark: neither band is in its range, only in its whole history.
    default, whole = variants((html / "m--py" / "b" / f"{LATE}.html").read_text())
    assert "hb-band-" not in default and "machine shift" not in default
    assert "hb-band-0" in whole and "machine shift" in whole
    write_benchmark_pages(project, tmp_path / "none", [])
    plain = (tmp_path / "none" / "m--py" / "b" / f"{ALL}.html").read_text()
    assert "hb-band-" not in plain and "machine shift" not in plain


def test_changed_bands_redraw_the_pages_and_same_bands_do_not(project, tmp_path):
    html = tmp_path / "html"
    first = write_benchmark_pages(project, html, [(22, 25)])
    assert len(first) == 2
    before = {p: (html / p).read_bytes() for p in first}
    mtimes = {p: os.stat(html / p).st_mtime_ns for p in first}
    assert write_benchmark_pages(project, html, [(22, 25)]) == []  # fresh: not rewritten
    assert all(os.stat(html / p).st_mtime_ns == mtimes[p] for p in first)
    # The same bands drawn again from scratch: the same bytes.
    write_benchmark_pages(project, tmp_path / "again", [(22, 25)])
    assert {p: (tmp_path / "again" / p).read_bytes() for p in first} == before
    # Other bands: every benchmark page is drawn again, showing them.
    assert sorted(write_benchmark_pages(project, html, [(22, 26)])) == sorted(first)
    late = (html / "m--py" / "b" / f"{LATE}.html").read_text()
    assert late.encode() != before["m--py/b/" + LATE + ".html"]
    assert "machine shift" in variants(late)[0]


# Table cells -------------------------------------------------------------------------------

LONG = "bench_mod." + "very_long_benchmark_name_" * 6 + "time_it"


def huge_levels(i: int) -> dict[str, float]:
    # Best 0.001 s, latest 2.148 s: "vs best" is +214700.0%.
    return {LONG: 0.001 if i == 0 else 2.148, ALL: 1.0}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from webdriver import open_browser

    b = open_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_table_cells_never_cut_figures(browser, tmp_path):
    project = write_history(tmp_path, huge_levels)
    html = tmp_path / "html"
    Publisher(load_config(project), html, jobs=1).publish()
    browser.resize(1024, 800)
    browser.get((html / "m--py" / "index.html").as_uri())
    assert browser.execute("return window.innerWidth") <= 1024
    cells = browser.execute("""
        return Array.from(document.querySelectorAll('table.bench tbody tr'), row =>
            Array.from(row.cells, c => [c.innerText.trim(), c.scrollWidth, c.clientWidth,
                                        c.getAttribute('title')]));
    """)
    long_row = next(row for row in cells if row[0][3] == LONG)
    assert long_row[5][0] == "+214700.0%", long_row  # vs best
    for row in cells:
        for text, scroll, client, _ in row[3:6]:  # latest, vs previous, vs best
            assert scroll <= client, f"figure cut: {text!r} ({scroll} > {client})"
        name, scroll, client, title = row[0]
        assert scroll <= client or title == LONG, row[0]  # wraps, or says it whole
    # The whole page fits: nothing scrolls sideways.
    assert browser.execute("return document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("days", [0.02, 0.7, 3.0, 45.0, 400.0, 1500.0, 1700.0, 9000.0])
def test_a_date_axis_of_any_span_draws_without_warnings(days):
    """matplotlib's date locator warns on stderr when no tick interval fits the span (it
    did for 4 years at 5 to 7 ticks, on a real history): every plot of a publish said so."""
    import warnings

    from histbench.site import plots

    start = 1_700_000_000.0 / 86_400
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = plots._canvas().x_axis((start, start + days), True)
    assert "<svg" in svg
