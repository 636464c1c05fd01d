"""Whether a cluster of steps is the machine or the code, and which of a machine shift's
benchmarks also moved by a code change of their own.

The rule (README "Events and machine shifts"):

- A cluster is a machine shift (``Cause.ENVIRONMENT``) when enough of the timing series
  measured across it step in it (``BROAD`` of them, and ``MIN_MEMBERS`` at least) and
  they agree on the direction (``AGREE``). A changed hardware fingerprint in the cluster
  is evidence: the bar is then halved, and two series are enough.
- Within a shift, each timing series' move is compared with what the machine predicts
  for it: the shift's median move times the series' own sensitivity to the machine (its
  loading, learnt from the history's other shifts; 1 when there are none). A series
  whose move is far from that (``OUTLIER_SDS`` robust SDs of all the series' residuals,
  as many SDs of its own move's noise, and ``MIN_CODE``) is a code suspect; the
  correction (correction.py) confirms it when the series' history, divided by the
  machine's moves, still steps there.
- Two kinds of suspects are the machine after all: several series that did not move at
  all (``STILL_GROUP``: the machine does not reach them, I/O-bound ones), and a group
  moving the same way off the prediction that is as broad as a shift itself (another
  runner moves an ORM benchmark and a parsing one differently: a second factor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from histbench.analysis.steps.noise import mad_sd

MIN_MEMBERS = 5  # timing series stepping in a cluster, at least, for a machine shift
BROAD = 0.15  # ... and this share of the timing series measured across it
AGREE = 0.75  # share of them moving in the direction of their median
EVIDENCE_DISCOUNT = 0.5  # a changed hardware fingerprint halves the share needed
EVIDENCE_MIN_MEMBERS = 2
OUTLIER_SDS = 4.0  # a residual this far out is a code change of the series' own
MIN_SCALE = 0.01  # log: the smallest spread of residuals assumed (1%)
JUMP_WIDTH = 5  # commits with data each side whose median level a series' move compares
SQRT2 = 2 ** 0.5
# SD of a move over a level's SD: two medians of JUMP_WIDTH levels (a median's variance is
# about pi/2 times a mean's)
MOVE_NOISE = (2 * (np.pi / 2) / JUMP_WIDTH) ** 0.5
MIN_SHIFT = 0.02  # log: shifts smaller than this teach nothing about loadings
MIN_CODE = 0.05  # log: a code change at a shift is at least this large (5%) to be told
STILL = 0.25  # a series moving less than this share of the shift did not move ...
STILL_GROUP = 3  # ... and this many such series at one shift are out of its reach


def is_machine_shift(moves: list[float], measured: int, evidence: bool) -> bool:
    """``moves``: log ratios of the timing series that stepped in the cluster;
    ``measured``: timing series with data on both sides of it."""
    discount = EVIDENCE_DISCOUNT if evidence else 1.0
    need = max(EVIDENCE_MIN_MEMBERS if evidence else MIN_MEMBERS,
               BROAD * discount * measured)
    if len(moves) < need or not moves:
        return False
    centre = float(np.median(moves))
    agreeing = sum(1 for m in moves if m * centre > 0)
    return agreeing >= AGREE * len(moves)


def jumps(levels: np.ndarray, first: int, last: int, width: int = JUMP_WIDTH) -> np.ndarray:
    """Per series (rows of log levels, NaN: no data), its median level over up to
    ``width`` commits with data from ``last`` on, less that over up to ``width`` before
    ``first``; NaN where a side has no data."""
    out = np.full(levels.shape[0], np.nan)
    for row, series in enumerate(levels):
        before = series[:first][~np.isnan(series[:first])][-width:]
        after = series[last:][~np.isnan(series[last:])][:width]
        if before.size and after.size:
            out[row] = np.median(after) - np.median(before)
    return out


@dataclass(frozen=True)
class Shift:
    """One machine shift as the attribution sees it."""

    members: frozenset[int]  # rows (timing series) that stepped in it
    moves: np.ndarray  # per row: its log move across the shift (NaN: not measured)

    @property
    def move(self) -> float:
        """The shift's own log move: the median of its members'."""
        values = [self.moves[r] for r in self.members if not np.isnan(self.moves[r])]
        return float(np.median(values)) if values else 0.0


def level_noise(levels: np.ndarray) -> np.ndarray:
    """Per row (log levels, NaN: no data), the robust SD of one commit's level, from the
    differences of consecutive levels: commit-to-commit jitter included, steps ignored."""
    out = np.zeros(levels.shape[0])
    for row, series in enumerate(levels):
        values = series[~np.isnan(series)]
        if values.size > 2:
            out[row] = mad_sd(np.diff(values)) / SQRT2
    return out


def loadings(shifts: list[Shift], rows: int, noise: np.ndarray) -> list[np.ndarray]:
    """Per shift, each row's sensitivity to the machine learnt from the other shifts
    (median of move / shift's move); 1 where there is nothing to learn from. Learnt
    twice: a row's move at a shift where it is a code suspect (its own code changed
    there too) is left out the second time, so that one code change does not make the
    row look over- or under-sensitive at every other shift."""
    ratios = _ratios(shifts, rows)
    first = _loadings(ratios)
    for k, shift in enumerate(shifts):
        for row in code_suspects(shift, first[k], noise):
            ratios[k, row] = np.nan
    return _loadings(ratios)


def _ratios(shifts: list[Shift], rows: int) -> np.ndarray:
    ratios = np.full((len(shifts), rows), np.nan)
    for k, shift in enumerate(shifts):
        if abs(shift.move) >= MIN_SHIFT:
            ratios[k] = shift.moves / shift.move
    return ratios


def _loadings(ratios: np.ndarray) -> list[np.ndarray]:
    rows = ratios.shape[1]
    out = []
    for k in range(ratios.shape[0]):
        others = np.delete(ratios, k, axis=0)
        with np.errstate(all="ignore"):
            known = np.sum(~np.isnan(others), axis=0) > 0
            beta = np.ones(rows)
            if others.size:
                beta[known] = np.nanmedian(others[:, known], axis=0)
        out.append(beta)
    return out


def code_suspects(shift: Shift, beta: np.ndarray, noise: np.ndarray) -> dict[int, float]:
    """Rows whose move is far from the machine's prediction, with their residual (log):
    candidates for a code change at the shift, to be confirmed on the corrected series.
    Far: ``OUTLIER_SDS`` robust SDs of all rows' residuals, and as many SDs of the row's
    own move (``noise``: its level's SD; a move is a difference of two medians of
    ``JUMP_WIDTH`` levels), so a noisy series is not judged by the quiet ones' spread."""
    residual = shift.moves - beta * shift.move
    finite = residual[~np.isnan(residual)]
    if finite.size < MIN_MEMBERS:
        return {}
    centre = float(np.median(finite))
    scale = max(mad_sd(finite), MIN_SCALE)
    own = OUTLIER_SDS * MOVE_NOISE * noise
    bound = np.maximum(max(OUTLIER_SDS * scale, MIN_CODE), own)
    suspects = {row: float(r) for row, r in enumerate(residual)
                if not np.isnan(r) and abs(r - centre) > bound[row]}
    # Several series that did not move at all: a group the machine does not reach
    # (I/O-bound), not as many code changes cancelling the shift to the percent.
    still = [row for row in suspects if abs(shift.moves[row]) < STILL * abs(shift.move)]
    if len(still) >= STILL_GROUP:
        for row in still:
            del suspects[row]
    return suspects


def second_factor(residuals: dict[int, float], shift: Shift) -> list[int]:
    """The code suspects of a shift that are the machine after all: as many of them,
    moving the same way off the machine's prediction, as would make a machine shift of
    their own (another runner moves an ORM benchmark and a parsing one differently:
    more than one factor). A coincident code change moves a few."""
    measured = int(np.sum(~np.isnan(shift.moves)))
    out = []
    for sign in (1, -1):
        rows = [k for k, r in residuals.items() if r * sign > 0]
        if rows and is_machine_shift([residuals[k] for k in rows], measured, False):
            out += rows
    return out
