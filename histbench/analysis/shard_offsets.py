"""Runner offsets of sharded runs, measured on their overlap commit and divided out before
step detection.

``run --shard I/N`` spreads a history over N CI jobs, each on a runner of its own, and
runners of one type still differ: one a few percent slower, another 30% (an older CPU
stepping, a busy host). Shards take every N-th commit, so without a correction a slow
shard is a zigzag through the whole history, which the detector reads as noise (and
loses real steps in), or, where shards are uneven, as steps. So every shard also measures
the range's first commit, the anchor (store/shards.py), and here, benchmark by benchmark:

- the offset of shard k is the ratio of the anchor's median in shard k to its median in
  shard 1 (the anchor's own shard, the reference);
- it is divided out of shard k's results before step detection when the two
  measurements of the anchor differ significantly (the two-sample test of ``compare``,
  at ``alpha``); a difference the test cannot tell from noise is shown, not applied,
  since dividing by it would only add the anchor's noise to every commit of the shard.

What is shown (plots, medians, ``show``, ``compare``) stays as measured; only step
detection (``regressions``, ``bisect --step``, the site's steps) sees corrected values.
Results without a shard label (nightly runs) are not corrected: their runner's offset
was never measured against anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from histbench.analysis.run_diff import compare_results
from histbench.store import shards
from histbench.store.results import BenchmarkResult, RunResults
from histbench.store.shards import ShardLabel

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Offset:
    """One benchmark's offset in one shard: its anchor's median there over shard 1's."""

    ratio: float
    p_value: float
    applied: bool  # significant, hence divided out


@dataclass
class ShardOffsets:
    """Offsets of every shard of every sharded run of one machine and environment."""

    offsets: dict[ShardLabel, dict[Key, Offset]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # batches that could not be measured

    def __bool__(self) -> bool:
        return bool(self.offsets)

    def factor(self, key: Key, label: ShardLabel | None) -> float:
        """What a result of shard ``label`` is divided by (1: none measured or applied)."""
        offset = self.offsets.get(label, {}).get(key) if label else None
        return offset.ratio if offset is not None and offset.applied else 1.0

    def factors(self, key: Key, labels: Sequence[ShardLabel | None]) -> list[float] | None:
        """Per commit, what its samples are divided by; None when nothing is."""
        found = [self.factor(key, label) for label in labels]
        return found if any(f != 1.0 for f in found) else None

    def of_series(self, key: Key) -> list[tuple[ShardLabel, Offset]]:
        """This benchmark's offset in every measured shard but the reference."""
        return sorted((label, by_key[key]) for label, by_key in self.offsets.items()
                      if key in by_key)

    def summary(self) -> list[tuple[ShardLabel, float, int, int]]:
        """Per shard: its typical offset (the median over the benchmarks whose offset is
        divided out, else over all of them), how many benchmarks were measured, and how
        many of them had their offset divided out."""
        rows = []
        for label in sorted(self.offsets):
            values = list(self.offsets[label].values())
            applied = [o.ratio for o in values if o.applied]
            if values:
                rows.append((label, statistics.median(applied or [o.ratio for o in values]),
                             len(values), len(applied)))
        return rows

    def lines(self) -> list[str]:
        """One line per sharded run, for people: ``shard offsets measured on overlap
        commit abc12345 (3 shards, against shard 1/3): 2/3 1.004x (0 of 2 benchmarks
        divided out), 3/3 1.301x (1 of 2 ...)``."""
        out = []
        batches: dict[tuple[str, int], list] = {}
        for row in self.summary():
            batches.setdefault(row[0].batch, []).append(row)
        for (anchor, total), rows in sorted(batches.items()):
            parts = ", ".join(f"{label.text} {ratio:.3f}x ({applied} of {n} benchmarks "
                              "divided out)" for label, ratio, n, applied in rows)
            out.append(f"shard offsets measured on overlap commit {anchor[:8]} "
                       f"({total} shards, against shard 1/{total}): {parts}")
        return out + self.problems


def offsets_of(overlaps: list[tuple[ShardLabel, RunResults]], *,
               alpha: float = 0.05) -> ShardOffsets:
    """The offsets that overlap measurements (``store.shards.load_overlaps``, one
    environment) show."""
    found = ShardOffsets()
    by_batch: dict[tuple[str, int], dict[int, RunResults]] = {}
    for label, run in overlaps:
        by_batch.setdefault(label.batch, {})[label.index] = run
    for (anchor, total), runs in sorted(by_batch.items()):
        reference = runs.get(1)
        if reference is None:
            found.problems.append(f"shard offsets of the run anchored at {anchor[:8]} not "
                                  f"measured: shard 1/{total}'s overlap measurement is "
                                  "missing")
            continue
        ref = reference.by_key()
        for index, run in sorted(runs.items()):
            if index == 1:
                continue
            label = ShardLabel(anchor, total, index)
            found.offsets[label] = {key: offset for key, result in run.by_key().items()
                                    if (offset := _offset(ref.get(key), result, alpha))}
    return found


def load_offsets(results_dir: Path, machine: str, env_name: str, *,
                 alpha: float = 0.05) -> ShardOffsets:
    return offsets_of(shards.load_overlaps(results_dir, machine, env_name), alpha=alpha)


def labels_of(runs: Sequence[RunResults]) -> list[ShardLabel | None]:
    return [shards.label_of(run.settings) for run in runs]


def _offset(ref: BenchmarkResult | None, other: BenchmarkResult,
            alpha: float) -> Offset | None:
    """None where the two cannot be compared: a side not ok, another version, a value
    that is not positive (no ratio), or no samples."""
    if ref is None or not ref.samples or not other.samples \
            or min(ref.samples + other.samples) <= 0:
        return None
    test = compare_results(ref, other, alpha=alpha)
    if test is None:
        return None
    ratio = statistics.median(other.samples) / statistics.median(ref.samples)
    return Offset(ratio, test.p_value, bool(test.significant))


def divided(samples: Sequence[Sequence[float]],
            factors: Sequence[float] | None) -> list:
    """Each commit's samples divided by its factor (those not divided stay as they are)."""
    if factors is None:
        return list(samples)
    return [np.asarray(s, dtype=float) / f if f != 1.0 else s
            for s, f in zip(samples, factors, strict=True)]
