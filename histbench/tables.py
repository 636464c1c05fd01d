"""Comparison and regression tables as text, Markdown or JSON.

Markdown is for CI job summaries and pull-request comments, so it leads with a one-line
verdict and puts the unchanged benchmarks in a collapsed section.
"""

from __future__ import annotations

import json
import time
from typing import Any

from histbench.compare import Row
from histbench.regressions import Change
from histbench.text import format_value, render_table

ICONS = {"regression": "🔴", "improvement": "🟢", "failed": "⚠️", "disturbed": "🌀"}


def _ratio(row: Row) -> tuple[str, str, str]:
    c = row.comparison
    if c is None:
        return "", "", ""
    return f"{c.ratio:.3f}", f"[{c.ci_low:.3f}, {c.ci_high:.3f}]", f"{c.p_value:.2g}"


def _median_text(row: Row, side: str) -> str:
    r = row.a if side == "a" else row.b
    if r is None:
        return "-"
    if r.status != "ok" or r.stats is None:
        return r.status
    return format_value(r.stats.median, r.unit)


def _disturbed_text(row: Row) -> str:
    shares = [row.disturbed_share(side) for side in ("a", "b")]
    if all(s is None for s in shares):
        return ""
    return "/".join("-" if s is None else f"{100 * s:.0f}%" for s in shares)


def compare_rows(rows: list[Row]) -> list[list[str]]:
    return [[r.label, _median_text(r, "a"), _median_text(r, "b"), *_ratio(r),
             _disturbed_text(r), r.verdict] for r in rows]


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
    counts = {v: sum(r.verdict == v for r in rows) for v in ("regression", "improvement",
                                                             "failed")}
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


def change_rows(changes: list[Change]) -> list[list[str]]:
    rows = []
    for c in changes:
        unit = c.series.unit
        rows.append([
            "regression" if c.regression else "improvement",
            c.series.label,
            f"{c.last_good.short if c.last_good else '(start)'}..{c.first_bad.short}",
            f"{format_value(c.before, unit)} -> {format_value(c.after, unit)}",
            f"{c.ratio:.3f}", f"{c.p_value:.2g}", "open" if c.open else "fixed",
            time.strftime("%Y-%m-%d", time.gmtime(c.first_bad.date)),
            c.first_bad.subject[:60],
        ])
    return rows


CHANGE_HEADER = ["kind", "benchmark", "last good..first bad", "level", "ratio", "p",
                 "state", "date", "subject"]


def changes_text(changes: list[Change]) -> str:
    return render_table(CHANGE_HEADER, change_rows(changes))


def changes_markdown(changes: list[Change]) -> str:
    return markdown_table(CHANGE_HEADER, change_rows(changes))


def changes_json(changes: list[Change], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "changes": [c.to_dict() for c in changes]}, indent=1)
