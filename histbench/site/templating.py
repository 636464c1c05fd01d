"""The Jinja environment every page is rendered with, and the digest of everything besides
a page's data that shapes its HTML (templates, static files, the page code, histbench's
version): a page rendered under another digest is stale."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from histbench import __version__
from histbench.core.formatting import format_ratio

_SITE = Path(__file__).parent
TEMPLATES = _SITE / "templates"
STATIC = _SITE / "static"
# The code that turns data into a page's HTML: a change to it makes every page stale.
PAGE_CODE = tuple(_SITE / name for name in (
    "publisher.py", "page_writer.py", "page_tasks.py", "templating.py", "plots.py",
    "commit_rows.py", "sparklines.py")) + tuple(sorted((_SITE / "pages").glob("*.py"))) + (
    _SITE.parent / "core" / "formatting.py",)


def date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else ""


def isodate(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts or 0))


def environment() -> Environment:
    env = Environment(loader=PackageLoader("histbench.site", "templates"),
                      autoescape=select_autoescape(["html", "atom", "xml"],
                                                   default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["date"] = date
    env.filters["isodate"] = isodate
    env.filters["ratio"] = format_ratio
    return env


def page_code_digest() -> str:
    h = hashlib.sha256(__version__.encode())
    for folder in (TEMPLATES, STATIC):
        for path in sorted(folder.iterdir()):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    for module in PAGE_CODE:
        h.update(module.read_bytes())
    return h.hexdigest()[:16]
