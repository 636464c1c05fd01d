"""What the commands work on, found from what the user named: the config, a machine's
measured history, one commit's run.

Everything below the config pulls in numpy (results) or scipy (series), so it is imported
inside each function, keeping ``histbench --help`` and ``histbench run`` quick to start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.core.config import Config, default_config, find_config, load_config
from histbench.core.errors import HistbenchError

if TYPE_CHECKING:
    from histbench.analysis.series import History
    from histbench.store.results import CommitInfo, RunResults


def config_for(args: argparse.Namespace, required: bool) -> Config:
    """The --config file, else the nearest histbench.json, else (when not required) the
    defaults of the current folder."""
    if args.config:
        return load_config(Path(args.config))
    try:
        return load_config(find_config())
    except HistbenchError:
        if required:
            raise
        return default_config(Path.cwd())


def history_order(config: Config) -> list[str] | None:
    """First-parent order of the configured branches, or None without a usable repo."""
    repo = _repo(config)
    return _order(repo, config) if repo else None


def repo_view(config: Config) -> tuple[list[str] | None, frozenset[str] | None]:
    """The history order, and every commit the repository has; (None, None) without one."""
    from histbench.run.git import all_commits

    repo = _repo(config)
    return (_order(repo, config), all_commits(repo)) if repo else (None, None)


def _repo(config: Config):
    from histbench.run.git import Repo

    try:
        return Repo(config.repo_path)
    except HistbenchError:
        return None


def _order(repo, config: Config) -> list[str] | None:
    from histbench.run.git import branch_commits

    return branch_commits(repo, config.branches, missing_ok=True) or None


def check_output_outside_data(config: Config, path: Path, option: str) -> None:
    """A report or summary written into the results, html or env folder would replace a
    file histbench keeps there (a result file: every later command fails on it)."""
    target = path.resolve()
    for folder in (config.results_dir, config.html_dir, config.env_dir):
        folder = Path(folder).resolve()
        if target == folder or folder in target.parents:
            raise HistbenchError(f"{option} {path}: inside {folder}, which histbench keeps "
                                 "its own files in; write it elsewhere")


def warn_left_out(left_out: list[CommitInfo]) -> None:
    """Results whose commit the repository does not have: said, since they are not shown."""
    from histbench.analysis.series import left_out_text

    if left_out:
        print(f"warning: {left_out_text(left_out)}: left out of the history", file=sys.stderr)


def load_history(config: Config, args: argparse.Namespace) -> History:
    """The history of --machine (or the only one) in --env (or the most used), for the
    commands that have those options."""
    from histbench.analysis import series

    machine = series.pick_machine(config.results_dir, getattr(args, "machine", None))
    order, known = repo_view(config)
    history = series.load_history(config.results_dir, machine,
                                  env_name=getattr(args, "env", None), order=order, known=known)
    warn_left_out(history.left_out)
    return history


def resolve_run(config: Config, history: History, spec: str) -> RunResults:
    """A ref git knows, or a hash prefix of a measured commit."""
    from histbench.run.git import Repo

    sha = spec
    try:
        sha = Repo(config.repo_path).rev(spec)
    except HistbenchError:
        pass
    matches = [h for h in history.runs if h.startswith(sha.lower())]
    if len(matches) != 1:
        why = "is ambiguous" if matches else "has no results"
        raise HistbenchError(f"commit {spec!r} {why} on machine {history.machine} "
                             f"(env {history.env_name})")
    return history.runs[matches[0]]


def named_or_newest(config: Config, history: History, spec: str | None) -> RunResults:
    """The run of the commit the user named, or of the newest measured one."""
    if spec:
        return resolve_run(config, history, spec)
    return history.runs[history.commits[-1].hash]
