"""The publish engine on real data (a slice of Django's asv history): parallel workers write
exactly what one process writes, the condensed-results cache, and the fast paths that
format rows, axes and sparklines."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
from conftest import shared_django_results
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from histbench.analysis.series import PointStatus
from histbench.core.config import load_config
from histbench.core.errors import HistbenchError
from histbench.site import templating
from histbench.site.commit_rows import _row
from histbench.site.model import ResultCache, SeriesData, condense_file
from histbench.site.page_tasks import BenchmarkPagesTask, CommitPagesTask
from histbench.site.page_writer import PageWriter
from histbench.site.publisher import Publisher
from histbench.site.sparklines import sparkline
from histbench.store.asv_import import import_asv
from histbench.store.results import iter_result_files
from histbench.store.statuses import Status

COMMITS = 30


@pytest.fixture(scope="module")
def django(tmp_path_factory) -> Path:
    """A project folder whose results are the first commits of Django's real history."""
    source = shared_django_results()
    root = tmp_path_factory.mktemp("django")
    asv = root / "asv"
    (asv / "ubuntu-latest").mkdir(parents=True)
    os.symlink(source / "benchmarks.json", asv / "benchmarks.json")
    os.symlink(source / "ubuntu-latest" / "machine.json", asv / "ubuntu-latest" / "machine.json")
    for path in sorted((source / "ubuntu-latest").glob("*-conda-py3.12.json"))[:COMMITS]:
        os.symlink(path, asv / "ubuntu-latest" / path.name)
    project = root / "project"
    project.mkdir()
    (project / "histbench.json").write_text(json.dumps({"project": "django"}))
    import_asv(asv, _config(project).results_dir)
    return project


def _config(project: Path):
    if not (project / "histbench.json").exists():
        (project / "histbench.json").write_text(json.dumps({"project": "django"}))
    return load_config(project / "histbench.json")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".histbench-cache" not in p.parts}


def test_workers_write_the_same_site_as_one_process(django, tmp_path):
    config = _config(django)
    one = Publisher(config, tmp_path / "one", jobs=1).publish()
    two = Publisher(config, tmp_path / "two", jobs=2).publish()
    assert sorted(one.written) == sorted(two.written)
    first, second = _files(tmp_path / "one"), _files(tmp_path / "two")
    # Index, regressions and machines pages are rendered on every publish; nothing in them
    # may depend on how the work was split.
    assert first.keys() == second.keys()
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, differ[:5]
    assert len([n for n in first if "/c/" in n]) == COMMITS


def test_second_publish_reads_no_result_file_again(django, tmp_path, monkeypatch):
    config = _config(django)
    Publisher(config, tmp_path / "html", jobs=1).publish()
    from histbench.site import model as site_model

    def refuse(path):
        raise AssertionError(f"{path} parsed again")

    monkeypatch.setattr(site_model, "condense_file", refuse)
    report = Publisher(config, tmp_path / "html", jobs=1).publish()
    assert report.skipped > COMMITS  # commit and benchmark pages found fresh


def test_page_writer_skips_fresh_pages_and_removes_stale_ones(tmp_path):
    env = templating.environment()
    first = PageWriter.open(tmp_path, env, "p", "code v1")
    for rel in ("b/kept.html", "b/gone.html"):
        assert not first.fresh(rel, "data v1")
        first.write(rel, rel)
    first.always("index.html")
    first.render("index.html", "feed.atom", rows=[], updated="", site=None, sites=[])
    assert sorted(first.finish().written) == ["b/gone.html", "b/kept.html", "index.html"]
    second = PageWriter.open(tmp_path, env, "p", "code v1")
    task = second.for_task()  # as in a worker: the same earlier manifest, its own record
    assert task.fresh("b/kept.html", "data v1") and not task.fresh("b/new.html", "data v1")
    assert second.pages.manifest == {}
    second.absorb(task.pages)
    second.always("index.html")
    pages = second.finish()
    assert pages.skipped == 1 and pages.written == []
    assert (tmp_path / "b/kept.html").exists() and not (tmp_path / "b/gone.html").exists()
    assert not PageWriter.open(tmp_path, env, "p", "code v2").fresh("b/kept.html", "data v1")


def test_page_tasks_are_values_that_reach_workers():
    tasks = [BenchmarkPagesTask(0, ("a", "b")), CommitPagesTask(1, 25, 50)]
    assert pickle.loads(pickle.dumps(tasks)) == tasks
    with pytest.raises(AttributeError):
        tasks[1].lo = 0  # frozen


def test_page_code_lists_every_page_module():
    site = Path(templating.__file__).parent
    assert set(site.glob("pages/*.py")) <= set(templating.PAGE_CODE)
    assert all(path.is_file() for path in templating.PAGE_CODE)


def test_cache_writes_only_new_entries_as_a_delta(django, tmp_path):
    results = _config(django).results_dir
    files = [p.resolve() for p in iter_result_files(results, "ubuntu-latest")]
    path = tmp_path / "cache" / "results.pickle"
    cache = ResultCache(path)
    cache.get_many(files[:-1])
    cache.save()
    base = path.stat().st_mtime_ns
    cache = ResultCache(path)
    runs = cache.get_many(files)
    cache.save()
    assert path.stat().st_mtime_ns == base  # one new file: the base stays as it was
    assert cache.delta_path.exists() and len(cache.delta) == 1
    again = ResultCache(path)
    assert set(again.entries) == {str(f) for f in files}
    assert [r.commit.hash for r in again.get_many(files)] == [r.commit.hash for r in runs]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "corrupt result file"),
    ('{"schema": "histbench-results", "schema_version": 1, "machine": "m", '
     '"env_name": "e", "results": [{"kind": "time"}]}', "malformed result file"),
])
def test_a_bad_result_file_stops_publish_with_its_name(django, tmp_path, jobs, content,
                                                       words):
    project = tmp_path / "project"
    shutil.copytree(django / "results", project / "results")
    bad = project / "results" / "ubuntu-latest" / "0000000-bad.json"
    bad.write_text(content)
    with pytest.raises(HistbenchError) as err:
        Publisher(_config(project), tmp_path / "html", jobs=jobs).publish()
    assert str(bad) in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_condensed_file_keeps_what_the_site_shows(django):
    path = iter_result_files(_config(django).results_dir, "ubuntu-latest")[0]
    run = condense_file(path)
    data = json.loads(path.read_text())
    assert run.commit.hash == data["commit"]["hash"]
    for j, r in enumerate(data["results"]):
        assert run.keys[j] == (r["name"], tuple(r["params"].items()))
        assert run.status[j] is Status(r["status"])
        samples = [v for group in r["process_samples"] for v in group]
        assert list(run.samples_of(j)) == (samples if r["status"] == "ok" else [])
        if r["stats"]:
            assert run.median[j] == r["stats"]["median"]


def test_commit_rows_escape_what_is_data():
    s = SeriesData(key=("x", ()), name="bench.<b>x</b>", params={}, kind="time",
                   unit="seconds", version="", higher_is_better=False,
                   status=[PointStatus.OK, PointStatus.FAILED], median=[1e-3, None],
                   ci_low=[1e-3, None], ci_high=[1e-3, None],
                   reasons=[None, "<script>alert(1)</script>"])
    head = Markup("<td>{}</td>").format(s.name)
    _, html, now = _row(s, head, 1, 0, None, None)
    assert "<script>" not in html and "&lt;script&gt;alert(1)" in html
    assert "&lt;b&gt;x" in html and now == "failed" and "1 ms" in html


def test_sparkline_draws_at_most_a_point_per_pixel():
    values = [float(i % 50) for i in range(5000)]
    svg = sparkline(values, width=120)
    points = svg.split('points="')[1].split('"')[0].split()
    assert 100 <= len(points) <= 120
    assert len(sparkline([1.0, 2.0, None, 3.0]).split('points="')[1].split()) == 3


@pytest.mark.parametrize(("low", "high"), [(0.1, 0.93), (0.0, 1.04), (3.0, 7.2), (-2.5, 4.1),
                                           (0.0, 0.0), (2e-7, 3e-7), (12.0, 1234.5)])
def test_y_limits_cover_the_data_from_zero_on_the_locators_ticks(low, high):
    from histbench.site.plots import y_limits

    bottom, top = y_limits(low, high)
    assert bottom <= min(0.0, low) and top >= high and top > bottom
    assert top <= high + (high - bottom) * 0.6 or high == 0.0  # rounded out, not blown up
    if low >= 0:
        assert bottom == 0.0


def test_import_in_workers_writes_what_one_process_writes(tmp_path):
    source = shared_django_results()
    asv = tmp_path / "asv" / "ubuntu-latest"
    asv.mkdir(parents=True)
    os.symlink(source / "benchmarks.json", asv.parent / "benchmarks.json")
    os.symlink(source / "ubuntu-latest" / "machine.json", asv / "machine.json")
    for path in sorted((source / "ubuntu-latest").glob("*-conda-py3.12.json"))[:12]:
        os.symlink(path, asv / path.name)
    (asv / "0000000-broken.json").write_text("{")
    one = import_asv(asv.parent, tmp_path / "one", jobs=1)
    two = import_asv(asv.parent, tmp_path / "two", jobs=2)
    assert len(one.imported) == len(two.imported) == 12
    assert len(two.skipped) == 1 and "0000000-broken.json" in two.skipped[0]
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


class _Planted:
    """Unpickling it creates the file ``MARKER`` names: what an attacker would plant."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_publish_never_loads_a_planted_cache(django, tmp_path):
    """Every cache file of a site replaced (or added) as a pickle that would create a file
    when loaded: publish ignores them all, writes the same pages and signs its caches."""
    config = _config(django)
    html = tmp_path / "html"
    Publisher(config, html, jobs=1).publish()
    before = _files(html)
    marker = tmp_path / "pwned"
    planted = _Planted()
    planted.marker = str(marker)
    names = ("results.pickle", "results-delta.pickle", "steps.pickle", "axes.pickle")
    for name in names:
        (html / ".histbench-cache" / name).write_bytes(
            pickle.dumps({"version": 7, "entries": {"x": planted}}))
    Publisher(config, html, jobs=2).publish()
    assert not marker.exists()
    assert _files(html) == before
    for name in ("results.pickle", "steps.pickle"):  # rebuilt, and signed this time
        assert (html / ".histbench-cache" / name).read_bytes().startswith(b"HBCACHE")


@given(st.lists(st.text(max_size=150), min_size=2, max_size=8, unique=True))
def test_page_names_are_unique_stable_and_plain(names):
    """Any benchmark names (track_ü, track_ö and track__ once shared a page) get pages of
    their own, with names a web server and the preview serve as they are."""
    from histbench.site.commit_rows import page_slug

    slugs = [page_slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert slugs == [page_slug(n) for n in names]
    for slug in slugs:
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,130}\.html", slug), slug


def test_the_names_that_once_shared_a_page():
    from histbench.site.commit_rows import page_slug

    names = ["b.track_ü", "b.track_ö", "b.track__", "b.track_ _", "b.track_/", ".hidden"]
    assert len({page_slug(n) for n in names}) == len(names)
    assert page_slug("django.bench.time_x") == "django.bench.time_x.html"  # plain: as before


values = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)


@given(values, values, st.booleans())
def test_the_index_and_commit_rows_read_any_signs_the_right_way(before, now, higher):
    """A track_ value may be negative or cross zero: no percentage or ratio is shown where
    it would read backwards, and worse or better follows the way the value moved."""
    from histbench.site.pages.index import _change

    s = SeriesData(key=("t", ()), name="bench.track_x", params={}, kind="track", unit="unit",
                   version="", higher_is_better=higher,
                   status=[PointStatus.OK, PointStatus.OK], median=[before, now],
                   ci_low=[before, now], ci_high=[before, now],
                   reasons=[None, None])
    text, css = _change(s, now, before)
    positive = before > 0 and now >= 0 and now / before < float("inf")
    assert bool(text) == positive
    moved_worse = now < before if higher else now > before
    if css == "worse":
        assert moved_worse
    elif css == "better":
        assert not moved_worse and now != before
    _, html, _ = _row(s, Markup("<td>x</td>"), 1, 0, None, None)
    ratio_cell = html.split("<td>")[4].split("</td>")[0]
    if positive:
        assert float(ratio_cell) == pytest.approx(now / before, rel=1e-2, abs=1e-3)
    else:
        assert ratio_cell == ""
