"""Events as `regressions` lists them: code events first (largest first), then machine
shifts on their own, as text, Markdown or JSON."""

from __future__ import annotations

import time
from typing import Any

from histbench.analysis.changes import Cause
from histbench.analysis.events import Event, EventReport
from histbench.core.formatting import format_ratio

EVENT_HEADER = ["event", "commits", "benchmarks", "ratio [quartiles]", "machine", "state",
                "date", "subject"]
SHIFT_NOTE = ("Machine shifts (environment): most timing benchmarks moved together, as "
              "when the runner changes. Listed, not counted as regressions; a code change "
              "that slows everything looks the same: read the subject, and confirm with "
              "`histbench continuous` or `run --measure instructions`.")


def listed_events(report: EventReport, everything: bool) -> list[Event]:
    """Code events with a regression (every code event with ``everything``), then every
    machine shift; each part largest first, as numbered."""
    code = [e for e in report.events if e.cause == Cause.CODE
            and (everything or e.regressions)]
    return code + report.environment


def summary(report: EventReport) -> dict[str, int]:
    return {"steps": len(report.changes),
            "regression_steps": sum(c.regression for c in report.changes),
            # what a per-step view would count, machine shifts included
            "open_regression_steps_any_cause": sum(c.regression and c.open
                                                   for c in report.changes),
            "open_regression_steps": sum(c.open_regression for c in report.changes),
            "events": len(report.events), "environment_events": len(report.environment),
            "open_regression_events": len(report.open_events)}


def headline(report: EventReport) -> str:
    s = summary(report)
    return (f"{s['events']} event(s) from {s['steps']} step(s): "
            f"{s['events'] - s['environment_events']} code, "
            f"{s['environment_events']} machine shift(s); open regressions: "
            f"{s['open_regression_events']} event(s)")


def event_rows(events: list[Event]) -> list[list[str]]:
    rows = []
    for e in events:
        span = e.first.short if e.first.hash == e.last.hash else f"{e.first.short}..{e.last.short}"
        rows.append([
            f"E{e.number}", span, f"{e.size} of {e.measured}",
            f"{format_ratio(e.ratio)} [{format_ratio(e.low)}-{format_ratio(e.high)}]",
            format_ratio(e.machine_factor), _state(e),
            time.strftime("%Y-%m-%d", time.gmtime(e.first.date)),
            "; ".join(e.subjects)[:60],
        ])
    return rows


def _state(e: Event) -> str:
    if e.cause == Cause.ENVIRONMENT:
        parts = ["shift"]
        if e.reverts:
            parts.append(f"undoes E{e.reverts}")
        if e.reverted_by:
            parts.append(f"undone by E{e.reverted_by}")
        if e.hardware:
            parts.append("hardware changed")
        return ", ".join(parts)
    if e.open:
        return "open"
    return "fixed" if e.regressions else "improvement"


def events_text(report: EventReport, events: list[Event], render) -> str:
    """``render``: (header, rows) -> table text (plain or Markdown)."""
    code = [e for e in events if e.cause == Cause.CODE]
    shifts = [e for e in events if e.cause == Cause.ENVIRONMENT]
    lines = [headline(report), ""]
    lines += ["Code events:", render(EVENT_HEADER, event_rows(code))] if code \
        else ["No code events."]
    if shifts:
        lines += ["", SHIFT_NOTE, render(EVENT_HEADER, event_rows(shifts))]
    hardware = [e for e in shifts if e.hardware]
    lines += [f"  E{e.number}: hardware {e.hardware}" for e in hardware]
    return "\n".join(lines)


def events_json(report: EventReport, events: list[Event]) -> dict[str, Any]:
    return {"summary": summary(report), "events": [e.to_dict() for e in events]}
