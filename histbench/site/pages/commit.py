"""Commit pages: every benchmark at one commit against the last commit it was measured at
(the rows come from ``CommitRows``), with links to the parent and child commits."""

from __future__ import annotations

from histbench.core.config import Config
from histbench.site.commit_rows import CommitRows
from histbench.site.model import SiteData
from histbench.site.page_writer import PageWriter
from histbench.site.pages.context import stable_context
from histbench.site.pages.index import skipped_before
from histbench.store.statuses import BuildStatus


class CommitPages:
    """Renders the commit pages of the sites, a run of consecutive commits at a time (each
    page's table is built from the one before). Made once every series' steps are known."""

    def __init__(self, sites: list[SiteData], config: Config,
                 position: dict[str, int] | None = None):
        self.sites = sites
        self.config = config
        self.position = position or {}  # first-parent hash -> index: skipped commits
        self.tables = [CommitRows(site) for site in sites]

    def write(self, writer: PageWriter, k: int, lo: int, hi: int) -> None:
        """The pages of commits ``lo`` to ``hi`` (exclusive) of site ``k``."""
        site, table = self.sites[k], self.tables[k]
        common = stable_context(site, self.sites)
        url = self.config.show_commit_url
        table.start(lo)
        for i in range(lo, hi):
            commit = site.commits[i]
            parent = site.commits[i - 1] if i else None
            child = site.commits[i + 1] if i + 1 < len(site.commits) else None
            rel = f"{site.slug}/c/{commit.hash}.html"
            notes = {"origin": site.origins.get(commit.hash, ""),
                     "skipped": skipped_before(site, i, self.position),
                     "suite_errors": site.suite_errors.get(commit.hash, []),
                     "other_hardware": site.hardware.get(commit.hash, ""),
                     "shard": site.shards[i] if site.shards else None}
            build = site.builds.get(commit.hash, {})
            digest = repr((commit, parent and parent.hash, child and child.hash,
                           table.fingerprint(i), build, url, len(self.sites),
                           sorted(notes.items())))
            if not writer.fresh(rel, digest):
                writer.render(rel, "commit.html", commit=commit, parent=parent, child=child,
                              rows=table.rows(i),
                              build_failed=build.get("status") == BuildStatus.FAILED,
                              build_reason=build.get("reason", ""),
                              commit_url=url + commit.hash if url else "",
                              **notes, **common)
            table.advance(i)
