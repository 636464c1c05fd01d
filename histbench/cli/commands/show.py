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
            mde = minimum_detectable_effect(r.process_samples) if r.status == Status.OK else None
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
        if args.format == "json":
            print(json.dumps({"commit": run.commit.hash, "machine": run.machine,
                              "env": run.env_name, "results": data}, indent=1))
        else:
            print(f"{run.commit.short} {run.commit.subject}  ({run.machine}, {run.env_name})")
            print(render_table(HEADER, rows))
        return ExitCode.OK
