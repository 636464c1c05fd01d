"""Which commits a run measures: the range or the commits asked for, one shard of them,
less those already measured when resuming."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.run.git import Repo, parse_shard, resolve_range, shard
from histbench.run.settings import Settings
from histbench.store import results
from histbench.store.results import CommitInfo
from histbench.store.shards import ShardLabel


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
    shard: ShardLabel | None = None  # --shard I/N of more than one commit
    # the overlap commit is measured for the overlap folder only: another shard's commit,
    # or one the history has already (--skip-existing)
    overlap_only: bool = False


def plan_commits(config: Config, options: RunOptions, env_name: str,
                 machine_name: str) -> CommitPlan:
    repo = Repo(config.repo_path)
    measured = measured_commits(config.results_dir, machine_name, env_name)
    if options.commits is not None:
        commits = repo.infos(dict.fromkeys(repo.rev(c) for c in options.commits))
    else:
        commits = resolve_range(repo, options.range_spec, branches=config.branches,
                                measured=set(measured), steps=options.steps)
    label = None
    if options.shard:
        index, total = parse_shard(options.shard)
        picked = shard(commits, options.shard)
        if total > 1 and commits:
            # Every shard also measures the range's first commit (the overlap commit,
            # first), so that its runner's offset can be measured (store/shards.py).
            label = ShardLabel(commits[0].hash, total, index)
            picked = picked if picked[:1] == commits[:1] else [commits[0], *picked]
        commits = picked
    if not options.skip_existing:
        return CommitPlan(commits, shard=label, overlap_only=bool(label and label.index > 1))
    # the overlap commit is measured by every shard of every sharded run, measured or not
    todo = [c for c in commits if not measured.get(c.hash) or (label and c.hash == label.anchor)]
    overlap_only = bool(label and (label.index > 1 or measured.get(label.anchor)))
    return CommitPlan(todo, len(commits) - len(todo), label, overlap_only)


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
