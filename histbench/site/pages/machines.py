"""The machines page: each machine's record, its noise warnings and its sites."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from histbench.core.errors import HistbenchError
from histbench.site.model import SiteData
from histbench.site.page_writer import PageWriter
from histbench.store import machine

PAGE = "machines.html"


@dataclass
class _Named:
    """Stands in for a machine record that would not load: the page shows its name."""

    name: str


def write_machines_page(writer: PageWriter, results_dir: Path, sites: list[SiteData]) -> None:
    entries = []
    for path in sorted(results_dir.glob("*/machine.json")):
        try:
            record = machine.load(path)
        except HistbenchError as exc:
            entries.append({"record": _Named(path.parent.name), "fields": [
                ("error", str(exc))], "warnings": [], "sites": []})
            continue
        fields = [(k, v) for k, v in record.to_dict().items() if v not in (None, "")]
        entries.append({"record": record, "fields": fields,
                        "warnings": record.noise_warnings(),
                        "sites": [s for s in sites if s.machine == record.name]})
    writer.always(PAGE)
    writer.render(PAGE, "machines.html", machines=entries, site=None, sites=sites)
