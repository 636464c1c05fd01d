"""`histbench import-asv`: an asv results folder, converted into histbench's."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from histbench.store.results import CommitInfo


class ImportAsvCommand(Command):
    name = "import-asv"
    help = "convert an asv results folder into histbench's"
    config_required = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("asv_results", help="asv's results folder (with benchmarks.json)")
        parser.add_argument("--results-dir",
                            help="histbench results folder (default: from config)")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        from histbench.core.parallel import available_cpus
        from histbench.store.asv_import import import_asv

        results_dir = Path(args.results_dir) if args.results_dir else config.results_dir
        report = import_asv(Path(args.asv_results), results_dir, describe=_describer(config),
                            jobs=available_cpus())
        for line in report.skipped:
            print(f"skipped: {line}", file=sys.stderr)
        print(f"imported {len(report.imported)} result files for "
              f"{', '.join(report.machines) or 'no machine'} into {results_dir}; "
              f"{len(report.skipped)} skipped", file=sys.stderr)
        return ExitCode.BENCHMARK_FAILED if report.skipped else ExitCode.OK


def _describer(config: Config) -> Callable[[str], CommitInfo | None] | None:
    """Commit subjects and authors from the configured repo, where it has the commit.

    One Repo per process: import workers are forked, and gitpython keeps a `git cat-file`
    process per Repo whose pipes must not be shared."""
    from histbench.run.git import Repo

    try:
        Repo(config.repo_path)
    except HistbenchError:
        return None
    repos: dict[int, Repo] = {}

    def describe(sha: str) -> CommitInfo | None:
        repo = repos.get(os.getpid())
        if repo is None:
            repo = repos[os.getpid()] = Repo(config.repo_path)
        try:
            return repo.info(repo.rev(sha))
        except (HistbenchError, ValueError):
            return None

    return describe
