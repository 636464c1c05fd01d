"""`histbench show`: one commit's results, each with how small a change it could detect."""

from __future__ import annotations

import argparse
import json
from typing import Any

from histbench.cli import options
from histbench.cli.command import Command
from histbench.cli.loading import load_history, named_or_newest
from histbench.core.config import Config
from histbench.core.exit_codes import ExitCode
from histbench.core.formatting import format_value, render_table
from histbench.core.modes import count_floor
from histbench.store.statuses import Status

HEADER = ["benchmark", "median", "95% CI", "n", "sensitivity", "disturbed"]


class ShowCommand(Command):
    name = "show"
    help = "results of one commit, with each benchmark's sensitivity"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("commit", nargs="?")
        options.add_format(parser, "text", "json")
        options.add_results_source(parser, env=True)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.analysis.two_sample import minimum_detectable_effect

        history = load_history(config, args)
        run = named_or_newest(config, history, args.commit)
        rows: list[list[str]] = []
        data: list[dict[str, Any]] = []
        for r in run.results:
            mde = minimum_detectable_effect(r.process_samples, by_process=r.imported,
                                            noise_floor=count_floor(r.kind)) \
                if r.status == Status.OK else None
            data.append({**r.to_dict(), "minimum_detectable_effect": mde})
            if r.status != Status.OK or r.stats is None:
                rows.append([r.label, f"{r.status}: {r.reason or ''}"[:60], "", "", "", ""])
                continue
            s = r.stats
            rows.append([r.label, format_value(s.median, r.unit),
                         f"[{format_value(s.median_ci_low, r.unit)}, "
                         f"{format_value(s.median_ci_high, r.unit)}]", str(s.n),
                         f"can detect changes >= {100 * mde:.1f}% with 95% power"
                         if mde is not None else "too few samples to tell",
                         r.disturbance.describe() if r.disturbance else ""])
        imported = _imported_from(run)
        if args.format == "json":
            print(json.dumps({"commit": run.commit.hash, "machine": run.machine,
                              "env": run.env_name, "imported_from": imported,
                              "suite_errors": run.errors, "results": data}, indent=1))
        else:
            origin = f", imported from {imported}" if imported else ""
            print(f"{run.commit.short} {run.commit.subject}  ({run.machine}, {run.env_name}"
                  f"{origin})")
            print(render_table(HEADER, rows))
            for line in suite_error_lines(run):
                print(line)
        return ExitCode.OK


def _imported_from(run) -> str | None:
    """The tool a run's results were imported from (its samples are that tool's)."""
    found = {str(r.extra["imported_from"]) for r in run.results if r.imported}
    found |= {str(run.settings["imported_from"])} if run.settings.get("imported_from") else set()
    return ", ".join(sorted(found)) or None


def suite_error_lines(run) -> list[str]:
    """Suite files that did not import at this commit: their benchmarks are missing from
    the table, and a reader must be told why rather than left to notice."""
    from histbench.store.results import error_line

    return [f"error: {error_line(err)} (its benchmarks were not measured)"
            for err in run.errors]
