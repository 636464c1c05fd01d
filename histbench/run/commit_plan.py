"""Which commits a run measures: the range or the commits asked for, one shard of them,
less those already measured when resuming."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.run.git import Repo, resolve_range, shard
from histbench.run.settings import Settings
from histbench.store import results
from histbench.store.results import CommitInfo


@dataclass
class RunOptions:
    range_spec: str
    bench: list[str] | None = None
    quick: bool = False
    machine: str | None = None
    python: str | None = None
    dry_run: bool = False
    shard: str | None = None
    steps: int | None = None
    skip_existing: bool = False
    interleave: bool = False
    settings: Settings = field(default_factory=Settings)
    commits: list[str] | None = None  # explicit commits (any refs), instead of range_spec


@dataclass(frozen=True)
class CommitPlan:
    commits: list[CommitInfo]
    skipped: int = 0  # already measured, left out by --skip-existing


def plan_commits(config: Config, options: RunOptions, env_name: str,
                 machine_name: str) -> CommitPlan:
    repo = Repo(config.repo_path)
    measured = measured_commits(config.results_dir, machine_name, env_name)
    if options.commits is not None:
        commits = repo.infos(dict.fromkeys(repo.rev(c) for c in options.commits))
    else:
        commits = resolve_range(repo, options.range_spec, branches=config.branches,
                                measured=set(measured), steps=options.steps)
    if options.shard:
        commits = shard(commits, options.shard)
    if not options.skip_existing:
        return CommitPlan(commits)
    todo = [c for c in commits if not measured.get(c.hash)]
    return CommitPlan(todo, len(commits) - len(todo))


def measured_commits(results_dir: Path, machine_name: str, env_name: str) -> dict[str, bool]:
    """Commit hash -> whether its result file is complete, for this machine and env."""
    found: dict[str, bool] = {}
    for path in results.iter_result_files(results_dir, machine_name):
        if not path.name.endswith(f"-{results.safe_name(env_name)}.json"):
            continue
        try:
            run = results.load(path)
        except HistbenchError:
            continue  # a corrupt file is remeasured, never trusted
        if run.commit:
            found[run.commit.hash] = run.complete
    return found
