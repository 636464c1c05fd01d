"""`histbench publish` on a real measured history: pages, links, escaping, incrementality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import FAST_ATTRS, shared_django_results
from toyrepo import ToyCommit, make_repo

EVIL = "<script>alert(1)</script> & friends"


def histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def site(tmp_path_factory, shared_env_dir):
    commits = ([ToyCommit(), ToyCommit(builds=False), ToyCommit(subject=EVIL), ToyCommit()]
               + [ToyCommit(work=28_000, subject="slow down compute")] * 3)
    repo = tmp_path_factory.mktemp("site") / "repo"
    hashes = make_repo(repo, commits, bench_attrs=FAST_ATTRS,
                       config={"env_dir": str(shared_env_dir)})
    proc = histbench(repo, "run", "main", "--machine", "m", "--rounds", "3")
    assert proc.returncode == 3, proc.stderr  # one commit does not build
    proc = histbench(repo, "publish")
    assert proc.returncode == 0, proc.stderr
    html = repo / "html"
    slug = next(p.name for p in html.iterdir() if p.name.startswith("m--"))
    return repo, hashes, html, slug


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src", "xlink:href") and value:
                self.links.append(value)


def test_pages_exist(site):
    _, hashes, html, slug = site
    for rel in ("index.html", "machines.html", "static/site.css", "static/site.js",
                f"{slug}/index.html", f"{slug}/regressions.html", f"{slug}/regressions.atom",
                f"{slug}/b/bench_toy.time_compute.html", f"{slug}/b/bench_toy.track_work.html"):
        assert (html / rel).is_file(), rel
    assert {p.stem for p in (html / slug / "c").glob("*.html")} == set(hashes)


def test_every_link_resolves(site):
    _, _, html, _ = site
    pages = list(html.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        for link in parser.links:
            url = urlparse(link)
            if url.scheme in ("http", "https", "mailto"):
                continue
            assert not url.scheme, f"{page}: {link}"
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            assert target.exists(), f"{page.relative_to(html)} links to missing {link}"


def test_nothing_is_fetched_from_the_network(site):
    _, _, html, _ = site
    for page in html.rglob("*.html"):
        text = page.read_text()
        assert "//cdn" not in text and "<script src=\"http" not in text


def test_commit_subjects_are_escaped(site):
    _, hashes, html, slug = site
    page = (html / slug / "c" / f"{hashes[2]}.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert "<script>alert(1)" not in page
    plot_page = (html / slug / "b" / "bench_toy.time_compute.html").read_text()
    assert "<script>alert(1)" not in plot_page and "&lt;script&gt;alert(1)" in plot_page


def test_benchmark_page_plot_steps_and_failures(site):
    _, hashes, html, slug = site
    page = (html / slug / "b" / "bench_toy.time_compute.html").read_text()
    assert page.count("<svg") >= 2  # commit-order and date axes
    assert f"<title>{hashes[0][:8]}" in page  # hover titles name the commit
    assert f'href="../c/{hashes[0]}.html"' in page  # clicking opens it
    assert "build-failed" in page and hashes[1][:8] in page  # shown as such, not as zero
    assert "def time_compute" in page  # the benchmark's source
    # The step is asserted on track_work, whose values are exact: timings on a loaded
    # machine may not show a 40% step at three commits each side.
    tracked = (html / slug / "b" / "bench_toy.track_work.html").read_text()
    assert "regression" in tracked and f"../c/{hashes[4]}.html\">{hashes[4][:8]}" in tracked


def test_regressions_page_and_feed(site):
    _, hashes, html, slug = site
    page = (html / slug / "regressions.html").read_text()
    assert "slow down compute" in page and hashes[4][:8] in page
    feed = ET.parse(html / slug / "regressions.atom").getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = feed.findall("a:entry", ns)
    assert entries and any(hashes[4] in e.find("a:link", ns).get("href") for e in entries)


def test_commit_page_puts_the_step_first(site):
    _, hashes, html, slug = site
    page = (html / slug / "c" / f"{hashes[4]}.html").read_text()
    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert "regression detected here" in first_row
    assert "failed to build" in (html / slug / "c" / f"{hashes[1]}.html").read_text()


def test_index_lists_benchmarks_with_badges(site):
    _, _, html, slug = site
    page = (html / slug / "index.html").read_text()
    assert "time_compute" in page and "track_work" in page and "hb-filter" in page
    assert "regression" in page and "<polyline" in page
    root = (html / "index.html").read_text()
    assert f'href="{slug}/b/bench_toy.time_compute.html"' in root


def test_machines_page(site):
    _, _, html, _ = site
    page = (html / "machines.html").read_text()
    assert "<h2>m</h2>" in page and "cores" in page


def test_incremental_publish_renders_only_what_changed(site, tmp_path):
    repo, hashes, html, slug = site
    commit_pages = {p: p.stat().st_mtime_ns for p in (html / slug / "c").glob("*.html")}
    proc = histbench(repo, "publish")
    assert proc.returncode == 0, proc.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in commit_pages.items())
    # One more commit measured: its page appears, its parent's gains a "next" link, the
    # other commit pages stay untouched.
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "one more"], cwd=repo,
                   check=True)
    # Only the exact benchmark is measured: a new timing point measured during a burst of
    # machine load could move the timing steps of older commits (the detector sees one more
    # point), which would rightly redraw their pages and make the set below vary by chance.
    proc = histbench(repo, "run", "HEAD", "--machine", "m", "-b", "track_work")
    assert proc.returncode == 0, proc.stderr
    proc = histbench(repo, "publish")
    assert proc.returncode == 0, proc.stderr
    new = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True).stdout.strip()
    assert (html / slug / "c" / f"{new}.html").exists()
    rewritten = {p.stem for p, t in commit_pages.items() if p.stat().st_mtime_ns != t}
    # The parent (its "next" link) and the step's commit (its p-value moved with the new
    # data) are redrawn; the other commit pages are not touched.
    assert hashes[-1] in rewritten and rewritten <= {hashes[-1], hashes[4]}
    manifest = json.loads((html / ".histbench-manifest.json").read_text())
    assert f"{slug}/c/{new}.html" in manifest


def test_publish_without_results_is_one_line(tmp_path):
    (tmp_path / "histbench.json").write_text(json.dumps({"project": "p"}))
    proc = histbench(tmp_path, "publish")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no results" in proc.stderr


def test_publish_imported_asv_history(tmp_path):
    """A slice of Django's real asv history, imported and published."""
    django = shared_django_results()
    asv = tmp_path / "asv"
    (asv / "ubuntu-latest").mkdir(parents=True)
    os.symlink(django / "benchmarks.json", asv / "benchmarks.json")
    os.symlink(django / "ubuntu-latest" / "machine.json", asv / "ubuntu-latest" /
               "machine.json")
    for path in sorted((django / "ubuntu-latest").glob("*-conda-py3.12.json"))[:40]:
        os.symlink(path, asv / "ubuntu-latest" / path.name)
    (tmp_path / "histbench.json").write_text(json.dumps({"project": "django"}))
    assert histbench(tmp_path, "import-asv", str(asv)).returncode == 0
    proc = histbench(tmp_path, "publish")
    assert proc.returncode == 0, proc.stderr
    index = (tmp_path / "html" / "ubuntu-latest--conda-py3.12" / "index.html").read_text()
    assert "time_form_clean" in index
    page = tmp_path / "html" / "ubuntu-latest--conda-py3.12" / "b" / \
        "form_benchmarks.form_clean.benchmark.FormClean.time_form_clean.html"
    assert "class FormClean" in page.read_text() or "def time_form_clean" in page.read_text()
    assert "imported from asv" in index
    commit_page = next((tmp_path / "html" / "ubuntu-latest--conda-py3.12" / "c").glob("*.html"))
    assert "Imported from asv" in commit_page.read_text()


BROKEN = "import toypkg\n\ndef time_fine():\n    toypkg.compute()\n\ndef broken(:\n"


def test_suite_files_that_do_not_import_are_said_on_the_site_and_by_show(toy_repo):
    """Their benchmarks are missing: the index (latest commit), the commit pages and
    `show` say which file and why, and `run` exits 2."""
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    (repo / "benchmarks" / "bench_broken.py").write_text(BROKEN)
    proc = histbench(repo, "run", "main", "--machine", "m", "--quick")
    assert proc.returncode == 2 and "suite files did not import" in proc.stderr, proc.stderr
    assert histbench(repo, "publish").returncode == 0
    site = repo / "html" / "m--virtualenv-py{}.{}".format(*sys.version_info[:2])
    assert "Suite error at the latest commit: bench_broken.py: SyntaxError" in \
        (site / "index.html").read_text()
    for sha in hashes:
        assert "Suite error: bench_broken.py: SyntaxError" in \
            (site / "c" / f"{sha}.html").read_text()
    proc = histbench(repo, "show")
    assert proc.returncode == 0 and "error: bench_broken.py: SyntaxError" in proc.stdout
