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


def write_machines_page(writer: PageWriter, results_dir: Path,
                        sites: list[SiteData]) -> list[str]:
    """Returns a line for each machine whose record is missing or damaged: the page shows
    it, and publish says it."""
    entries, problems = [], []
    names = {p.parent.name for p in results_dir.glob("*/machine.json")}
    for name in sorted(names | {s.machine for s in sites}):
        record, problem = _record(results_dir, name)
        if record is None:
            problems.append(problem)
            entries.append({"record": _Named(name), "fields": [("error", problem)],
                            "warnings": [], "sites": [s for s in sites if s.machine == name]})
            continue
        fields = [(k, v) for k, v in record.to_dict().items() if v not in (None, "")]
        entries.append({"record": record, "fields": fields,
                        "warnings": record.noise_warnings(),
                        "sites": [s for s in sites if s.machine == record.name]})
    writer.always(PAGE)
    writer.render(PAGE, "machines.html", machines=entries, site=None, sites=sites)
    return problems


def _record(results_dir: Path, name: str) -> tuple[machine.MachineRecord | None, str]:
    """The machine's record, or why it has none (read once: the page shows it)."""
    path = machine.machine_path(results_dir, name)
    if not path.is_file():
        return None, machine.missing_record(results_dir, name) or f"{path}: not a file"
    try:
        return machine.load(path), None
    except HistbenchError as exc:
        return None, str(exc)
