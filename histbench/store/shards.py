"""Shards of a run on disk: the label each result of ``run --shard I/N`` carries, and the
overlap measurements (``results/<machine>/overlap/``).

Shards of one run go to different CI runners, and runners of one type still differ (a
slower CPU stepping, a noisier neighbour). So every shard also measures one commit in
common, the range's first (the *anchor*), and saves that measurement apart from the
history: ``overlap/<commit>-<env>.shard-<I>-of-<N>.json``, one file per shard, shard 1's
included (its copy of a result it also saves in the history). Comparing the anchor's
measurements across shards gives each shard's runner offset (``analysis/shard_offsets``).
The overlap folder is not part of the history: loaders of result files never look there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError
from histbench.store import results
from histbench.store.results import RunResults

OVERLAP_DIR = "overlap"
SETTINGS_KEY = "shard"  # RunResults.settings["shard"]: the label
_OVERLAP_NAME = re.compile(r"^[0-9a-f]{7,40}-.+\.shard-(\d+)-of-(\d+)\.json$")


@dataclass(frozen=True, order=True)
class ShardLabel:
    """Which shard of which sharded run measured a result: shard ``index`` of ``total``,
    of the run whose overlap commit is ``anchor``. Shards that agree on ``anchor`` and
    ``total`` are one run (one batch), however many jobs ran them."""

    anchor: str
    total: int
    index: int

    @property
    def batch(self) -> tuple[str, int]:
        return self.anchor, self.total

    @property
    def text(self) -> str:
        return f"{self.index}/{self.total}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "total": self.total, "anchor": self.anchor}


def label_of(settings: Any) -> ShardLabel | None:
    """The shard label in a result's settings, or None (not sharded, or a malformed label:
    such a result simply takes no part in shard offsets)."""
    if not isinstance(settings, dict):
        return None
    data = settings.get(SETTINGS_KEY)
    if not isinstance(data, dict):
        return None
    index, total, anchor = data.get("index"), data.get("total"), data.get("anchor")
    if not (isinstance(index, int) and isinstance(total, int) and not isinstance(index, bool)
            and not isinstance(total, bool) and 1 <= index <= total
            and isinstance(anchor, str) and re.fullmatch(r"[0-9a-f]{7,64}", anchor)):
        return None
    return ShardLabel(anchor, total, index)


def overlap_path(results_dir: Path, machine: str, commit_hash: str, env_name: str,
                 label: ShardLabel) -> Path:
    name = (f"{commit_hash[:12]}-{results.safe_name(env_name)}"
            f".shard-{label.index}-of-{label.total}.json")
    return Path(results_dir) / results.safe_name(machine) / OVERLAP_DIR / name


def save_overlap(run: RunResults, results_dir: Path) -> Path:
    """Save one shard's measurement of its run's anchor commit (run.settings holds the
    label)."""
    label = label_of(run.settings)
    if label is None or run.commit is None or run.commit.hash != label.anchor:
        raise HistbenchError("an overlap measurement needs its shard label and anchor commit")
    path = overlap_path(results_dir, run.machine, run.commit.hash, run.env_name, label)
    results.write_json_atomic(path, run.to_dict())
    return path


def iter_overlap_files(results_dir: Path, machine: str) -> list[Path]:
    folder = Path(results_dir) / results.safe_name(machine) / OVERLAP_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if _OVERLAP_NAME.match(p.name))


def overlap_name(path: Path) -> tuple[str, int, int] | None:
    """(commit hash prefix, shard index, shard count) that an overlap file's name gives."""
    match = _OVERLAP_NAME.match(Path(path).name)
    if not match:
        return None
    return Path(path).name.split("-", 1)[0], int(match.group(1)), int(match.group(2))


def load_overlaps(results_dir: Path, machine: str,
                  env_name: str | None = None) -> list[tuple[ShardLabel, RunResults]]:
    """Every overlap measurement of the machine (of one environment, if given), with its
    label; a file whose label does not match its name is an error naming it."""
    found = []
    for path in iter_overlap_files(results_dir, machine):
        run = results.load(path)
        label = label_of(run.settings)
        match = _OVERLAP_NAME.match(path.name)
        if label is None or run.commit is None or run.commit.hash != label.anchor \
                or (int(match.group(1)), int(match.group(2))) != (label.index, label.total):
            raise HistbenchError(f"{path}: not an overlap measurement (its shard label does "
                                 "not match its name)")
        if env_name is None or run.env_name == env_name:
            found.append((label, run))
    return found
