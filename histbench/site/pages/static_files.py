"""The site's stylesheet and script, copied when they changed."""

from __future__ import annotations

import hashlib

from histbench.site.page_writer import PageWriter
from histbench.site.templating import STATIC


def copy_static_files(writer: PageWriter) -> None:
    for path in sorted(STATIC.iterdir()):
        rel = f"static/{path.name}"
        if not writer.fresh(rel, hashlib.sha256(path.read_bytes()).hexdigest()):
            writer.copy(rel, path)
