"""The machines page: each machine's record, its noise warnings and its sites."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from histbench.site.model import SiteData
from histbench.site.page_writer import PageWriter
from histbench.store import machine

PAGE = "machines.html"


@dataclass
class _Named:
    """Stands in for a machine record that would not load: the page shows its name."""

    name: str


def write_machines_page(writer: PageWriter, results_dir: Path,
                        sites: list[SiteData]) -> list[str]:
    """Returns a line for each machine whose record is missing or damaged: the page shows
    it, and publish says it."""
    entries, problems = [], []
    names = {p.parent.name for p in results_dir.glob("*/machine.json")}
    for name in sorted(names | {s.machine for s in sites}):
        problem = machine.missing_record(results_dir, name)
        if problem:
            problems.append(problem)
            entries.append({"record": _Named(name), "fields": [("error", problem)],
                            "warnings": [], "sites": [s for s in sites if s.machine == name]})
            continue
        record = machine.load(machine.machine_path(results_dir, name))
        fields = [(k, v) for k, v in record.to_dict().items() if v not in (None, "")]
        entries.append({"record": record, "fields": fields,
                        "warnings": record.noise_warnings(),
                        "sites": [s for s in sites if s.machine == record.name]})
    writer.always(PAGE)
    writer.render(PAGE, "machines.html", machines=entries, site=None, sites=sites)
    return problems
