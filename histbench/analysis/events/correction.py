"""The re-test: the machine's shifts, each times each series' loading, divided out of the
timing series, whose steps are then found again. At a shift, what is left is the code's:
a series whose move is far from the machine's prediction and whose corrected history
still steps there had a code change of its own, even one the shift hid."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np

from histbench.analysis.changes import Cause, Change
from histbench.analysis.events import attribution
from histbench.analysis.events.clusters import TOLERANCE
from histbench.analysis.events.workspace import Found, Workspace
from histbench.analysis.shard_offsets import divided
from histbench.analysis.steps import Step

Corrected = dict[int, list[tuple[Step, Change]]]  # series index -> its corrected steps


def attribute(work: Workspace) -> None:
    """Marks every change of a machine shift environment or code, places code changes
    where their corrected history steps, adds the code steps a shift hid to its group,
    and judges open or fixed on the corrected histories."""
    if not work.shifts:
        return
    noise = attribution.level_noise(work.levels)
    keys = sorted(work.shifts)
    betas = dict(zip(keys, attribution.loadings([work.shifts[g] for g in keys],
                                                len(work.row_of), noise), strict=True))
    corrected = _corrected(work, betas)
    _gather(work, corrected)
    position = work.position
    for g in keys:
        _split(work, g, _code_at(work, g, betas[g], noise, corrected), position)
    _reopen(work, corrected)


def _corrected(work: Workspace, betas: dict[int, np.ndarray]) -> Corrected:
    """Per timing series, its steps once the machine's shifts (each times the series'
    loading) are divided out."""
    timing = sorted(work.row_of, key=work.row_of.get)
    path = np.zeros((len(timing), len(work.commits)))
    for g, beta in betas.items():
        path[:, _centre(work.groups[g]):] += (beta * work.shifts[g].move)[:, None]
    samples = [divided(work.series[k].samples, np.exp(path[work.row_of[k]]).tolist())
               for k in timing]
    found = work.changes([work.series[k] for k in timing], samples)
    return dict(zip(timing, found, strict=True))


def _centre(group: list[Found]) -> int:
    """The commit where most of a group's steps are (the earliest of those tied): where a
    machine shift starts, though a step or two of it is placed a commit off."""
    counts = Counter(f.index for f in group)
    return min(counts, key=lambda i: (-counts[i], i))


def _gather(work: Workspace, corrected: Corrected) -> None:
    """Moves into a shift's group the timing steps that belong to it though not at its
    commits: a series without data across the shift steps at its next commit with data
    (its last good commit is before the shift), and a series that hardly moves with the
    machine has its small step placed a few commits off in the noise (its history less
    the machine's moves has no step there). A group takes one step of a series at most."""
    position = work.position
    spans = {g: work.span(g) for g in work.shifts}
    for g, group in enumerate(work.groups):
        if g in work.shifts:
            continue
        for f in list(group):
            if f.series not in work.row_of:
                continue
            good = f.change.last_good
            low = position[good.hash] if good is not None else f.index
            confirmed = any(abs(step.index - f.index) <= TOLERANCE
                            for step, _ in corrected.get(f.series, []))
            for target, (a, _) in spans.items():
                across = low < a <= f.index  # no data between the shift and the step
                displaced = abs(f.index - a) <= attribution.JUMP_WIDTH and not confirmed
                taken = any(m.series == f.series for m in work.groups[target])
                if (across or displaced) and not taken:
                    group.remove(f)
                    work.groups[target].append(f)
                    break


def _code_at(work: Workspace, g: int, beta: np.ndarray, noise: np.ndarray,
             corrected: Corrected) -> dict[int, Change]:
    """The series with a code change of their own at shift ``g``: its corrected step."""
    first, last = work.span(g)
    series_of = {r: k for k, r in work.row_of.items()}
    code, residuals = {}, {}
    for row, residual in attribution.code_suspects(work.shifts[g], beta, noise).items():
        k = series_of[row]
        near = [c for step, c in corrected.get(k, [])
                if first - TOLERANCE <= step.index <= last + TOLERANCE]
        if near and abs(residual) >= math.log1p(work.series[k].min_change):
            code[k], residuals[k] = near[0], residual
    for k in attribution.second_factor(residuals, work.shifts[g]):
        del code[k]
    return code


def _split(work: Workspace, g: int, code: dict[int, Change],
           position: dict[str, int]) -> None:
    """Sets the causes of shift ``g``'s changes: code for the series in ``code`` (one
    change each, placed where the corrected history steps; a code step the shift hid is
    added), environment for every other timing series."""
    group = work.groups[g]
    placed: set[int] = set()
    for f in sorted(group, key=lambda f: abs(f.index - _centre(group))):
        if f.series not in work.row_of:
            continue  # track_, memory, counts: the machine does not move them
        if f.series in code and f.series not in placed:
            better = code[f.series]
            f.change.code_ratio = better.ratio
            f.change.first_bad, f.change.last_good = better.first_bad, better.last_good
            f.index = position[better.first_bad.hash]
            placed.add(f.series)
        else:
            f.change.cause = Cause.ENVIRONMENT
    for k, change in code.items():
        if k not in placed:
            group.append(Found(k, position[change.first_bad.hash],
                               replace(change, code_ratio=change.ratio)))


def _reopen(work: Workspace, corrected: Corrected) -> None:
    """A code regression is open or fixed by its series less the machine's moves: a
    faster runner later does not fix it."""
    for f in (f for group in work.groups for f in group):
        if f.change.cause != Cause.CODE or f.series not in corrected:
            continue
        near = [c for step, c in corrected[f.series] if abs(step.index - f.index) <= TOLERANCE
                and c.regression == f.change.regression]
        if near:
            f.change.open = near[0].open
