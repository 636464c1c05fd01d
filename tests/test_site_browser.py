"""The published site as a person sees it: every page opened in headless Chromium.

Fails on console errors (script errors, missing CSS/JS/images), broken links (HTML and the
plots' SVG links), unescaped commit subjects, and on the page's own controls not working.
Needs chromium and chromedriver (.ci/run installs them); without them the tests fail, unless
HISTBENCH_NO_BROWSER=1 is set, which skips them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import FAST_ATTRS
from toyrepo import ToyCommit, make_repo
from webdriver import open_browser

EVIL = "<script>alert(1)</script>"
FAILED, EVIL_AT, STEP_AT = 2, 3, 5  # indices in the history below

# For each link (HTML <a> and SVG <a> in the inline plots): [kind, absolute URL].
LINKS_JS = """
const out = [];
for (const a of document.querySelectorAll('a')) {
  if (a instanceof SVGElement) {
    const raw = a.href.baseVal || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
    if (raw) out.push(['svg', new URL(raw, document.baseURI).href]);
  } else if (a.hasAttribute('href')) {
    out.push(['html', a.href]);
  }
}
return out;
"""
SHOWN_JS = "return arguments[0].getClientRects().length > 0"  # false if it or a parent is hidden


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = open_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, shared_env_dir):
    commits = [ToyCommit(), ToyCommit(), ToyCommit(builds=False), ToyCommit(subject=EVIL),
               ToyCommit(), ToyCommit(work=28_000, subject="slow down compute"),
               ToyCommit(work=28_000), ToyCommit(work=28_000)]
    repo = tmp_path_factory.mktemp("browser-site") / "repo"
    hashes = make_repo(repo, commits, bench_attrs=FAST_ATTRS,
                       config={"env_dir": str(shared_env_dir), "show_commit_url": ""})
    for args, code in ((["run", "main", "--machine", "m", "--rounds", "2"], 3),  # 1 no build
                       (["publish"], 0)):
        proc = subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == code, f"histbench {' '.join(args)}:\n{proc.stderr}"
    html = repo / "html"
    slug = next(p.name for p in html.iterdir() if p.name.startswith("m--"))
    return html, slug, hashes


@pytest.fixture(scope="module")
def visits(browser, site):
    """Every HTML page opened once: {page: (SEVERE console entries, alert, links, footer)}."""
    html, _, hashes = site
    pages = sorted(p for p in html.rglob("*.html")
                   if not any(part.startswith(".") for part in p.relative_to(html).parts))
    assert len(pages) >= 6 + len(hashes), pages  # 4 top pages, 2 benchmarks, 1 per commit
    browser.logs()  # start from an empty console log
    out = {}
    for page in pages:
        browser.get(page.as_uri())
        alert = browser.take_alert()
        links = browser.execute(LINKS_JS)
        footer = browser.execute("const f = document.querySelector('footer');"
                                 "return f ? f.innerText : null")
        severe = [e["message"] for e in browser.logs() if e["level"] == "SEVERE"]
        out[page.relative_to(html).as_posix()] = (severe, alert, links, footer)
    return out


def open_page(browser, site, rel: str) -> str | None:
    """Navigate to a page of the site; returns the text of the alert it opened, if any."""
    browser.get((site[0] / rel).as_uri())
    alert = browser.take_alert()
    browser.logs()  # reported by test_every_page_loads_without_console_errors
    return alert


def severe(browser) -> list[str]:
    return [e["message"] for e in browser.logs() if e["level"] == "SEVERE"]


def test_every_page_loads_without_console_errors(visits):
    problems = [f"{page}: {msg}" for page, (errors, alert, _, _) in visits.items()
                for msg in errors + ([f"alert({alert!r}) fired"] if alert is not None else [])]
    assert not problems, "console errors:\n" + "\n".join(problems)


def test_no_broken_links(visits):
    broken, svg_links = [], 0
    for page, (_, _, links, _) in visits.items():
        for kind, url in links:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https", "mailto"):
                continue
            if parsed.scheme != "file":
                broken.append(f"{page}: {kind} link {url} (unexpected scheme)")
                continue
            target = Path(unquote(parsed.path))
            svg_links += kind == "svg"
            if not target.is_file():
                broken.append(f"{page}: {kind} link to missing {url}")
            elif parsed.fragment and target.suffix == ".html":
                text, frag = target.read_text(), parsed.fragment
                if f'id="{frag}"' not in text and f'name="{frag}"' not in text:
                    broken.append(f"{page}: {kind} link to missing anchor {url}")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert svg_links > 0, "no links found in the plots' SVG"


def test_footer_is_the_same_on_every_page(visits):
    footers = {}
    for page, (_, _, _, footer) in visits.items():
        footers.setdefault(footer, []).append(page)
    assert len(footers) == 1, "pages differ in their footer:\n" + "\n".join(
        f"{footer!r}: {pages}" for footer, pages in footers.items())


def test_commit_subject_is_shown_literally(browser, site):
    _, slug, hashes = site
    assert open_page(browser, site, f"{slug}/c/{hashes[EVIL_AT]}.html") is None
    assert EVIL in browser.execute("return document.body.innerText")
    scripts = browser.execute("return Array.from(document.scripts, s => s.src + ' ' + s.text)")
    assert not [s for s in scripts if "alert" in s], scripts
    assert open_page(browser, site, f"{slug}/b/bench_toy.time_compute.html") is None
    titles = browser.execute("return Array.from(document.querySelectorAll('.hb-hit title'),"
                             " t => t.textContent)")
    assert any(EVIL in t for t in titles), titles  # hover text of that commit's column
    assert not severe(browser)


def test_filter_box_hides_rows_that_do_not_match(browser, site):
    open_page(browser, site, "index.html")
    rows = "return Array.from(document.querySelectorAll('.hb-row'), " \
           "r => [r.dataset.name, r.getClientRects().length > 0])"
    assert dict(browser.execute(rows)) == {"bench_toy.time_compute": True,
                                           "bench_toy.track_work": True}
    box = browser.find(".hb-filter")
    browser.type(box, "TRACK")
    assert dict(browser.execute(rows)) == {"bench_toy.time_compute": False,
                                           "bench_toy.track_work": True}
    browser.type(box, "zzz")  # matches nothing: the whole group goes
    assert not browser.execute(SHOWN_JS, browser.find("section.group"))
    browser.execute("const f = document.querySelector('.hb-filter'); f.value = '';"
                    "f.dispatchEvent(new Event('input'))")
    assert all(shown for _, shown in browser.execute(rows))
    assert browser.execute(SHOWN_JS, browser.find("section.group"))
    assert not severe(browser)


def test_index_badges_are_not_clipped(browser, site):
    # At the browser's 1280 px width: the index's "1 regression" / "failing" badges must be
    # readable, not cut off by their table cell (cells hide what overflows).
    open_page(browser, site, "index.html")
    clipped = browser.execute("""
        return Array.from(document.querySelectorAll('table.bench td .badge'), b => {
            const r = b.getBoundingClientRect(), c = b.closest('td').getBoundingClientRect();
            return [b.innerText, Math.round(r.right - c.right)];
        }).filter(([, over]) => over > 0);
    """)
    assert not clipped, f"badges cut off by their cell ([text, px hidden]): {clipped}"


@pytest.mark.parametrize("bench", ["bench_toy.time_compute", "bench_toy.track_work"])
def test_benchmark_page_plots(browser, site, bench):
    _, slug, hashes = site
    open_page(browser, site, f"{slug}/b/{bench}.html")
    order, date = browser.find(".axis-order"), browser.find(".axis-date")
    assert browser.execute(SHOWN_JS, order) and not browser.execute(SHOWN_JS, date)
    browser.click(browser.find(".hb-axis[data-axis=date]"))
    assert browser.execute(SHOWN_JS, date) and not browser.execute(SHOWN_JS, order)
    browser.click(browser.find(".hb-axis[data-axis=order]"))
    assert browser.execute(SHOWN_JS, order) and not browser.execute(SHOWN_JS, date)
    assert not severe(browser)

    # Each plot: one hover column per commit, in history order, its title naming the
    # commit; the commit that failed says so rather than showing a value.
    titles = browser.execute("""
        return Array.from(document.querySelectorAll('figure.plot .hb-hit'), layer =>
            Array.from(layer.querySelectorAll('rect > title'), t => t.textContent));
    """)
    assert len(titles) == 2, "expected a commit-order and a date plot"
    for plot in titles:
        assert [t.split(" ")[0] for t in plot] == [h[:8] for h in hashes], plot
        assert "failed" in plot[FAILED] and all(
            "failed" not in t for i, t in enumerate(plot) if i != FAILED), plot
    # The layers (y axis, x axis, data) are drawn over each other at the same size.
    boxes = browser.execute("""
        return Array.from(document.querySelector('figure.plot .hb-plot').children,
                          svg => { const r = svg.getBoundingClientRect();
                                   return [r.x, r.y, r.width, r.height].map(Math.round); });
    """)
    assert len(boxes) == 3 and len({tuple(b) for b in boxes}) == 1, boxes
    # Hovering a column highlights it; clicking it opens the commit's page.
    column = browser.find("figure.plot .hb-hit a:last-child rect")
    browser.click(column)
    assert browser.execute("return location.pathname").endswith(f"/c/{hashes[-1]}.html")


def test_slow_step_is_marked(browser, site):
    # track_work is exact (20_000 -> 28_000), so its step is certain to be detected; the
    # timing benchmark's is too noisy with so few samples to assert on.
    _, slug, hashes = site
    open_page(browser, site, f"{slug}/b/bench_toy.track_work.html")
    rows = browser.execute("return Array.from(document.querySelectorAll('table.steps tbody tr'),"
                           " r => r.innerText)")
    assert any(r.startswith("regression") and hashes[STEP_AT][:8] in r for r in rows), rows


def test_screenshots(browser, site, tmp_path_factory):
    """Not asserted: pictures of the site for a human to look at."""
    _, slug, _ = site
    folder = tmp_path_factory.mktemp("screenshots")
    for rel, name in (("index.html", "index.png"),
                      (f"{slug}/b/bench_toy.time_compute.html", "time_compute.png")):
        open_page(browser, site, rel)
        print(f"screenshot of {rel}: {browser.screenshot(folder / name)}")
