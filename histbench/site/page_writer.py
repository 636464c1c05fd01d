"""Where pages reach the disk: the manifest of page digests that makes publishing
incremental, atomic writes, and the record of what was written.

Every page has a digest of exactly what it shows; a page whose digest is in the manifest
of the last publish and whose file exists is not rendered again. Forked workers each get a
writer of their own (``for_task``) and send back its ``WrittenPages``, which the parent's
writer takes in (``absorb``) before it saves the manifest (``finish``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment

from histbench import __version__
from histbench.core.files import write_atomic
from histbench.store.results import write_json_atomic

MANIFEST = ".histbench-manifest.json"
ALWAYS = "rendered on every publish"


@dataclass
class WrittenPages:
    """What a writer did: the manifest entries of its pages, the files it wrote and how
    many pages it found fresh."""

    manifest: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    skipped: int = 0


class PageWriter:
    """Writes a site's pages under ``html_dir``, skipping those the last publish left
    fresh. ``digest_base`` (``templating.page_code_digest``) is mixed into every page's
    digest, so that new templates or page code make every page stale."""

    def __init__(self, html_dir: Path, templates: Environment, project: str, digest_base: str,
                 earlier: dict[str, str]):
        self.html_dir = html_dir
        self.templates = templates
        self.project = project
        self.digest_base = digest_base
        self.earlier = earlier  # the last publish's manifest
        self.pages = WrittenPages()

    @classmethod
    def open(cls, html_dir: Path, templates: Environment, project: str,
             digest_base: str) -> PageWriter:
        """A writer that knows what the last publish into ``html_dir`` wrote."""
        try:
            earlier = json.loads((html_dir / MANIFEST).read_text())
        except (OSError, ValueError):
            earlier = {}
        return cls(html_dir, templates, project, digest_base, earlier)

    def for_task(self) -> PageWriter:
        """A writer with an empty record, for one task (maybe in another process)."""
        return PageWriter(self.html_dir, self.templates, self.project, self.digest_base,
                          self.earlier)

    def fresh(self, rel: str, digest: str) -> bool:
        """Record the page's digest; True when the page on disk already matches it."""
        digest = hashlib.sha256((self.digest_base + digest).encode()).hexdigest()[:24]
        self.pages.manifest[rel] = digest
        if self.earlier.get(rel) == digest and (self.html_dir / rel).exists():
            self.pages.skipped += 1
            return True
        return False

    def always(self, rel: str) -> None:
        """A summary page, rendered on every publish (one page: cheaper to render than to
        prove unchanged); listed in the manifest so that it is never taken for stale."""
        self.pages.manifest[rel] = ALWAYS

    def write(self, rel: str, text: str) -> None:
        write_atomic(self.html_dir / rel, text)
        self.pages.written.append(rel)

    def copy(self, rel: str, source: Path) -> None:
        (self.html_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, self.html_dir / rel)
        self.pages.written.append(rel)

    def render(self, rel: str, template: str, **context: Any) -> None:
        """``template`` rendered into ``rel``, its links relative to the page's folder."""
        context.setdefault("root", "../" * rel.count("/"))
        context.setdefault("project", self.project)
        context.setdefault("version", __version__)
        self.write(rel, self.templates.get_template(template).render(**context))

    def absorb(self, pages: WrittenPages) -> None:
        """What another writer (a task's) did, as if done here."""
        self.pages.manifest.update(pages.manifest)
        self.pages.written += pages.written
        self.pages.skipped += pages.skipped

    def finish(self) -> WrittenPages:
        """Save the manifest and remove the pages of benchmarks or commits that no longer
        exist, so no link dangles."""
        write_json_atomic(self.html_dir / MANIFEST, dict(sorted(self.pages.manifest.items())))
        for rel in set(self.earlier) - set(self.pages.manifest):
            (self.html_dir / rel).unlink(missing_ok=True)
        return self.pages
