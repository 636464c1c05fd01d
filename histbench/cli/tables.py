"""Comparison and regression tables as text, Markdown or JSON.

Markdown is for CI job summaries and pull-request comments, so it leads with a one-line
verdict and puts the unchanged benchmarks in a collapsed section.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from histbench.analysis.bisect_hints import bisect_hint, span_of
from histbench.analysis.changes import Cause, Change
from histbench.analysis.run_diff import Row, Verdict
from histbench.core.formatting import format_ratio, format_value, render_table
from histbench.store.statuses import Status

ICONS = {Verdict.REGRESSION: "🔴", Verdict.IMPROVEMENT: "🟢", Verdict.FAILED: "⚠️",
         Verdict.DISTURBED: "🌀"}
HEADLINE = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.FAILED)  # counted in Markdown


def _ratio(row: Row) -> tuple[str, str, str]:
    c = row.comparison
    if c is None:
        return "", "", ""
    interval = (f"[{format_ratio(c.ci_low)}, {format_ratio(c.ci_high)}]"
                if c.ratio is not None else "")
    return format_ratio(c.ratio), interval, f"{c.p_value:.2g}"


def _median_text(row: Row, side: str) -> str:
    r = row.a if side == "a" else row.b
    if r is None:
        return "-"
    if r.status != Status.OK or r.stats is None:
        return r.status.value
    return format_value(r.stats.median, r.unit)


def _disturbed_text(row: Row) -> str:
    shares = [row.disturbed_share(side) for side in ("a", "b")]
    if all(s is None for s in shares):
        return ""
    return "/".join("-" if s is None else f"{100 * s:.0f}%" for s in shares)


def compare_rows(rows: list[Row]) -> list[list[str]]:
    return [[r.label, _median_text(r, "a"), _median_text(r, "b"), *_ratio(r),
             _disturbed_text(r), r.verdict.value] for r in rows]


# "disturbed A/B": the share of each side's samples left out because the machine was
# disturbed while they were taken (docs/api.md, "Disturbed samples").
COMPARE_HEADER = ["benchmark", "A", "B", "ratio B/A", "95% CI", "p", "disturbed A/B",
                  "verdict"]


def compare_text(rows: list[Row]) -> str:
    return render_table(COMPARE_HEADER, compare_rows(rows))


def compare_json(rows: list[Row], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "rows": [r.to_dict() for r in rows]}, indent=1)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def compare_markdown(rows: list[Row], title: str) -> str:
    changed = [r for r in rows if r.changed]
    rest = [r for r in rows if not r.changed]
    counts = {v: sum(r.verdict == v for r in rows) for v in HEADLINE}
    headline = ", ".join(f"{ICONS[v]} {n} {v}{'s' if n != 1 else ''}"
                         for v, n in counts.items() if n) or "✅ no significant change"
    out = [f"### {title}", "", headline, ""]
    if changed:
        out += [markdown_table(COMPARE_HEADER, compare_rows(changed)), ""]
    if rest:
        out += ["<details><summary>"
                f"{len(rest)} benchmark{'s' if len(rest) != 1 else ''} without significant "
                "change</summary>", "", markdown_table(COMPARE_HEADER, compare_rows(rest)), "",
                "</details>", ""]
    return "\n".join(out)


@dataclass(frozen=True)
class ListedChange:
    """A step as `regressions` lists it: its number (what ``bisect --step`` takes), how
    many commits it spans in the branch's history (None when unknown), and the command
    that finds its exact commit when it spans more than one."""

    number: int
    change: Change
    span: int | None = None
    bisect: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, **self.change.to_dict(), "commits_spanned": self.span,
                "bisect_command": self.bisect}


def list_changes(changes: list[Change], machine: str, order: list[str] | None
                 ) -> list[ListedChange]:
    """Number the changes as found (regressions first, so their numbers are the same with
    and without improvements), with each one's span in ``order`` (first-parent hashes)
    and, where it spans several commits, the bisect command."""
    position = {h: i for i, h in enumerate(order or [])}
    return [ListedChange(n, c, span_of(c, position), bisect_hint(c, machine, position))
            for n, c in enumerate(changes, 1)]


def change_rows(listed: list[ListedChange]) -> list[list[str]]:
    rows = []
    for item in listed:
        c = item.change
        unit = c.series.unit
        rows.append([
            str(item.number),
            c.verdict.value,
            _event_cell(c),
            c.series.label,
            f"{c.last_good.short if c.last_good else '(start)'}..{c.first_bad.short}",
            str(item.span) if item.span is not None else "?",
            f"{format_value(c.before, unit)} -> {format_value(c.after, unit)}",
            format_ratio(c.ratio), f"{c.p_value:.2g}", "open" if c.open else "fixed",
            time.strftime("%Y-%m-%d", time.gmtime(c.first_bad.date)),
            c.first_bad.subject[:60],
        ])
    return rows


def _event_cell(c: Change) -> str:
    if c.event is None:
        return ""
    return f"E{c.event}" + (" machine" if c.cause == Cause.ENVIRONMENT else "")


CHANGE_HEADER = ["#", "kind", "event", "benchmark", "last good..first bad", "commits", "level",
                 "ratio", "p", "state", "date", "subject"]


BISECT_HEADING = "Steps that span several commits; to find the exact one:"


def changes_text(listed: list[ListedChange]) -> str:
    lines = [render_table(CHANGE_HEADER, change_rows(listed))]
    wanted = [item for item in listed if item.bisect]
    if wanted:
        lines += ["", BISECT_HEADING] + [f"  #{i.number}: {i.bisect}" for i in wanted]
    return "\n".join(lines)


def changes_markdown(listed: list[ListedChange]) -> str:
    lines = [markdown_table(CHANGE_HEADER, change_rows(listed))]
    wanted = [item for item in listed if item.bisect]
    if wanted:
        lines += ["", BISECT_HEADING, ""] + [f"- #{i.number}: `{i.bisect}`" for i in wanted]
    return "\n".join(lines)


def changes_json(listed: list[ListedChange], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "changes": [item.to_dict() for item in listed]}, indent=1)
