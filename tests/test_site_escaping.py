"""No stored XSS: markup planted in every field a site shows (from the suite, the result
files, git, machine.json and the config) reaches no written page raw, in HTML, inline SVG,
the Atom feed, JS or JSON; and ``show_commit_url`` is a link only when it is http(s) or
relative.

Each field gets its own payload, in five shapes that break out of text, double- and
single-quoted attributes, an SVG ``<title>`` and XML CDATA; the tag names the field, so a
leak says where it came from.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from histbench.core.config import Config, load_config
from histbench.core.errors import HistbenchError
from histbench.site.publisher import CACHE_DIR, Publisher
from histbench.store import machine, results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults
from histbench.store.statuses import BuildRecord, BuildStatus, Status

SHAPES = ("<xss-1-{}>", '"><xss-2-{}>', "'><xss-3-{}>", "</title><xss-4-{}>", "]]><xss-5-{}>")
LEAK = re.compile(r"<xss-\d-[\w.-]+")
COMMITS = 10
STEP_AT = 6  # first commit of the higher level
BUILD_FAILS_AT = 2
FAILS_FROM = 7  # the failing benchmark fails from this commit on
SKIPPED_AT = 4
URL = "https://example.org/commit?a=\"b'c<xss-2-url>&d=/"
# Fields the site shows, each of which must be found on some page escaped (so the scan
# below is not passed by a field simply left out).
SHOWN = ("project", "env", "subject", "author", "name", "fname", "tname", "pname",
         "pkey", "pval", "unit", "version", "reason", "skipreason", "buildreason", "code",
         "attr", "mos", "mcpu", "march", "mpython", "mimpl", "mgovernor", "misolated",
         "mbadname")


def payload(field: str) -> str:
    """Every shape, tagged with ``field``."""
    return " ".join(shape.format(field) for shape in SHAPES)


def sha(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def commit(i: int) -> CommitInfo:
    return CommitInfo(hash=sha(i), date=1_700_000_000.0 + 86_400 * i,
                      author=payload("author"), subject=payload("subject"),
                      parents=[sha(i - 1)] if i else [], branch=payload("branch"))


def samples(level: float) -> list[list[float]]:
    """Three processes of five samples around ``level``, fixed: the step is certain."""
    return [[level * (1 + 0.001 * ((p * 5 + k) % 7)) for k in range(5)] for p in range(3)]


def result(name: str, i: int, *, kind: str = "time", unit: str = "seconds",
           params: dict[str, str] | None = None, status: Status = Status.OK,
           reason: str | None = None) -> BenchmarkResult:
    level = 2.0 if i >= STEP_AT else 1.0
    r = BenchmarkResult(name=name, kind=kind, params=params or {}, unit=unit,
                        version=payload("version"), status=status, reason=reason,
                        stderr_tail=payload("stderr") if status != Status.OK else None,
                        process_samples=samples(level) if status == Status.OK else [],
                        extra={payload("extrakey"): payload("extra")})
    return r.with_stats()


NAMES = {
    "time": f"bench_mod.{payload('name')}.time_x",
    "track": f"bench_mod.track_{payload('tname')}",
    "params": f"bench_mod.time_{payload('pname')}",
    "fails": f"bench_mod.time_{payload('fname')}",
}
PARAM_SETS = [{payload("pkey"): payload("pval") + f" {k}"} for k in range(2)]


def results_at(i: int) -> list[BenchmarkResult]:
    fails = i >= FAILS_FROM
    out = [result(NAMES["time"], i),
           result(NAMES["track"], i, kind="track", unit=payload("unit")),
           result(NAMES["fails"], i, status=Status.FAILED if fails else Status.OK,
                  reason=payload("reason") if fails else None)]
    for k, params in enumerate(PARAM_SETS):
        skipped = i == SKIPPED_AT and k == 1
        out.append(result(NAMES["params"], i, params=params,
                          status=Status.SKIPPED if skipped else Status.OK,
                          reason=payload("skipreason") if skipped else None))
    return out


def write_results(results_dir: Path) -> None:
    """A history of COMMITS commits through the storage API: steps, failures, a skipped
    point and a commit that did not build, with markup in every field."""
    for i in range(COMMITS):
        broken = i == BUILD_FAILS_AT
        build = BuildRecord(BuildStatus.FAILED, payload("buildreason"), payload("buildlog")) \
            if broken else BuildRecord()
        results.save(RunResults(
            machine="m", env_name=payload("env"), commit=commit(i), python=payload("python"),
            requirements={payload("reqname"): payload("reqspec")},
            settings={"note": payload("settings")}, build=build,
            results=[] if broken else results_at(i),
            errors=[{"benchmark": payload("errbench"), "error": payload("error")}],
            packages={payload("pkgname"): payload("pkgversion")}), results_dir)
    results.save_benchmark_info(results_dir, {name: {
        "module": "bench_mod", "kind": "time", "code": f"def f():\n    {payload('code')}",
        "pretty_name": payload("pretty"), "params": [[payload("pval")]],
        "param_names": [payload("pkey")], "unit": payload("unit"),
        "attr": payload("attr")} for name in NAMES.values()})
    machine.save(machine.MachineRecord(
        name="m", os=payload("mos"), arch=payload("march"), cpu=payload("mcpu"), cores=4,
        ram_bytes=1 << 30, python=payload("mpython"), python_implementation=payload("mimpl"),
        cpu_governor=payload("mgovernor"), turbo=True, load_average=(9.0, 1.0, 1.0),
        isolated_cpus=payload("misolated")), results_dir)
    # A record that does not load: the machines page shows its error, name and all.
    broken = results_dir / "broken" / "machine.json"
    broken.parent.mkdir()
    broken.write_text(json.dumps({"name": payload("mbadname"), "os": "", "arch": "",
                                  "cpu": "", "cores": 1, "ram_bytes": 1, "python": "",
                                  "python_implementation": ""}))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("escaping")
    (root / "histbench.json").write_text(json.dumps(
        {"project": payload("project"), "show_commit_url": URL}))
    config = load_config(root / "histbench.json")
    write_results(config.results_dir)
    html = root / "html"
    Publisher(config, html, jobs=1).publish()
    return html


def written(html: Path) -> dict[str, str]:
    """Every file of the site. The caches are left out: signed pickles of the results,
    never rendered (a browser offered one gets bytes, not a page)."""
    return {str(p.relative_to(html)): p.read_text(errors="replace")
            for p in sorted(html.rglob("*"))
            if p.is_file() and CACHE_DIR not in p.relative_to(html).parts}


def test_the_site_has_every_kind_of_page(site):
    names = written(site)
    slug = next(p.name for p in site.iterdir() if p.name.startswith("m--"))
    for rel in ("index.html", "machines.html", "static/site.js", ".histbench-manifest.json",
                f"{slug}/index.html", f"{slug}/regressions.html", f"{slug}/regressions.atom"):
        assert rel in names, rel
    assert len([n for n in names if "/c/" in n]) == COMMITS
    assert len([n for n in names if "/b/" in n]) == len(NAMES)
    regressions = names[f"{slug}/regressions.html"]
    assert regressions.count('<tr class="bad">') >= 2  # steps were found: rows show values
    assert "<svg" in names[f"{slug}/b/" + next(n.split("/b/")[1] for n in names if "/b/" in n)]


def test_no_written_file_carries_planted_markup_raw(site):
    leaks = {f"{rel}: {m}" for rel, text in written(site).items() for m in LEAK.findall(text)}
    assert not leaks, sorted(leaks)[:20]


def test_every_shown_field_is_on_the_site_escaped(site):
    """The scan above proves something only for fields that are shown: each is, escaped."""
    text = "\n".join(written(site).values())
    # The first shape's start, escaped: the page may cut a field short (the version).
    missing = [f for f in SHOWN if str(escape(payload(f)[:12])) not in text]
    assert not missing, missing


def test_the_feed_is_well_formed_and_keeps_the_text(site):
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for feed in site.rglob("*.atom"):
        root = ET.parse(feed).getroot()
        assert payload("project") in root.find("a:title", ns).text
        entries = root.findall("a:entry", ns)
        assert entries
        assert all(payload("subject") in e.find("a:summary", ns).text for e in entries)


class Links(HTMLParser):
    """Every link target, as a browser reads it (entities decoded)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for key, value in attrs if key in ("href", "src") and value]


def test_a_commit_url_with_quotes_stays_one_attribute(site):
    """The https URL carries quotes and markup: each commit link is the URL and a hash,
    exactly, so no attribute was broken out of."""
    outside = []
    for page in site.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text())
        outside += [link for link in parser.links if link.startswith("https://example.org/")]
    assert outside
    hashes = {sha(i) for i in range(COMMITS)}
    bad = [link for link in outside
           if not (link.startswith(URL) and link[len(URL):] in hashes)]
    assert not bad, bad[:5]


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "histbench.json"
    path.write_text(json.dumps({"project": "p", "show_commit_url": url}))
    return path


@pytest.mark.parametrize("url", [
    "javascript:alert(1)//", "JavaScript:alert(1)//", " javascript:alert(1)//",
    "\tjavascript:alert(1)//", "java\nscript:alert(1)//", "data:text/html,<script>x</script>",
    "vbscript:x", "file:///etc/passwd#"])
def test_a_commit_url_that_is_not_a_web_link_is_refused(tmp_path, url):
    with pytest.raises(HistbenchError) as caught:
        load_config(write_config(tmp_path, url))
    message = str(caught.value)
    assert "show_commit_url" in message and "\n" not in message


@pytest.mark.parametrize("url", [
    "", "https://github.com/o/r/commit/", "http://git.example.org/c/", "HTTPS://x.org/c/",
    "../commits/", "/commits/", "//x.org/commit/"])
def test_web_and_relative_commit_urls_are_kept(tmp_path, url):
    assert load_config(write_config(tmp_path, url)).show_commit_url == url


def test_publish_refuses_a_commit_url_set_in_code(tmp_path):
    """A Config built without load_config is checked again before anything is linked."""
    config = Config(path=tmp_path / "histbench.json", project="p",
                    results_dir=tmp_path / "results", show_commit_url="javascript:alert(1)//")
    with pytest.raises(HistbenchError, match="show_commit_url"):
        Publisher(config, tmp_path / "html", jobs=1).publish()
    assert not (tmp_path / "html").exists()
