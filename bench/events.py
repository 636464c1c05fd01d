"""Event finding (histbench/analysis/events), scored on labelled multi-benchmark histories.

Usage: python bench/events.py [--histories N] [--seed S] [--part tune|report] [--jobs J]
       [--examples K] [--shifts wide|small]

Why: on shared CI runners the machine changes under a history and every timing
benchmark steps at that commit. Read per step (the view before event finding), each is
a false code regression, and a real one at the same commit is lost in the crowd. Event
finding groups steps by commit, calls a broad, agreeing group a machine shift
(``Cause.ENVIRONMENT``), divides the machine's moves out and looks again for each
series' own (code) steps. This script measures how well it does that, against labels.

The corpus (deterministic for part, seed and history number): each history has 150 to
400 commits and 12 to 60 timing series, each at a level of 10**U(-5, -1) s with 5 to 10
samples per commit (~2% of commits without data per series) and one noise kind of
bench/detection_corpora.py (gauss1%, gauss3%, lognormal, outliers, jitter, drift; the
same generator, tests/synthetic_noise.py) or per-build offsets (``offsets``: each
commit's level times 1 + s * e, s ~ U(0.5%, 2%), e gaussian or Student-t(3); samples
agree to 0.1-0.5%). Into it:

- machine shifts (``MACHINE_SHARE`` of the histories; the others have none, to count
  environment false alarms): 1 to 4, each of a factor F with log F uniform in
  [log 0.75, log 1.4] and |F - 1| >= 8%, applied from its commit on to every series as
  F ** beta_s, beta_s ~ N(1, 0.08) a fixed per-series loading; in a third of these
  histories 10-20% of the series are insensitive (beta 0: I/O-bound benchmarks). Some
  shifts are undone 10-60 commits later by one of ~1/F (a flip-flop pair);
- code steps, 1 to 5 per history in single series, x U(1.1, 1.5) or x U(0.7, 0.9); about
  a third sit at a machine shift's commit, and of those about half nearly cancel the
  shift in their series (code ratio ~ 1 / F ** beta_s, clipped to the ranges above: a
  1.25x slowdown on a runner 0.8x as fast shows no raw step at all).

Events are at least ``MIN_GAP`` commits apart and ``MARGIN`` from either end, and the two
commits around a code step have data in its series, so the labels are exact.

Scoring, per history, summed over a corpus part:

- code steps: a reported change with cause CODE (every one in ``report.changes``, hidden
  ones found after the correction included) is a true positive if it is a true code step
  of the same series at exactly the same commit (each matched once); any other is a
  false positive.
- environment events: a reported ENVIRONMENT event matches a true shift whose commit is
  in [first - 1, last + 1] of the event (each shift and event matched at most once).
- flip-flops: true reverting pairs whose two shifts are both matched by events that are
  paired with each other (``reverts`` / ``reverted_by``); pairs reported that are not a
  true pair are counted too.
- the per-step baseline: every raw step of every series (``detect_steps`` on the raw
  samples, as event finding's first pass sees them) counted as a code step. Its code
  precision against the same labels shows what grouping and attribution gain.

Rows: all histories; those with insensitive series; those with a code step at a shift's
commit; those with a flip-flop pair; those without any shift (environment events there
are all false alarms). Then code recall by kind of code step, how far paired shifts are
from cancelling (true pairs and false ones), the size of the corrected step of code
changes at shifts (true ones and machine steps called code), a census of the errors
with a diagnosis each, and the largest few of each kind spelled out, for whoever tunes
the rule. The default 300 histories take about two minutes on two cores.

Held out: ``--part tune`` and ``--part report`` (the default) draw from disjoint seed
ranges. The rule's constants (analysis/events/attribution.py, clusters.py,
reversals.py) are to be set on ``tune`` only; ``report`` is what is quoted.

Targets (the issue): code steps F1 >= 0.9 and environment events F1 >= 0.9.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The sample noise is the tests' own generator (tests/synthetic_noise.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthetic_noise import build_offsets, commit_samples, shape_level  # noqa: E402

from histbench.analysis.changes import Cause  # noqa: E402
from histbench.analysis.events import SeriesHistory, find_events  # noqa: E402
from histbench.analysis.series import SeriesInfo  # noqa: E402
from histbench.analysis.steps import detect_steps  # noqa: E402
from histbench.core.parallel import fork_map  # noqa: E402
from histbench.store.results import CommitInfo  # noqa: E402

NOISE_KINDS = ("gauss1%", "gauss3%", "lognormal", "outliers", "jitter", "drift", "offsets")
PART_SEEDS = {"tune": 0, "report": 1_000_003}  # disjoint ranges of history seeds
MACHINE_SHARE = 0.75  # histories with machine shifts; the rest have none
INSENSITIVE_SHARE = 1 / 3  # of those, histories with insensitive series
REVERT_SHARE = 0.4  # shifts undone later (while there is room for 4 shifts in all)
AT_SHIFT_SHARE = 1 / 3  # code steps at a machine shift's commit
CANCEL_SHARE = 0.5  # of those, steps that nearly cancel the shift in their series
MIN_GAP, MARGIN = 5, 5  # commits between events, and from either end
TARGET = 0.9
NEAR = 3  # commits: how far around a miss the diagnosis looks
JUMP_NEAR = 8  # commits: a code step this close to a shift may bend its measured move


@dataclass
class CodeStep:
    series: int
    index: int
    ratio: float
    at_shift: bool = False
    cancels: bool = False


@dataclass
class Shift:
    index: int
    factor: float
    reverts: int | None = None  # the commit of the shift it undoes


@dataclass
class EventHistory:
    number: int
    n: int
    noise: list[str]
    beta: np.ndarray
    shifts: list[Shift]
    code: list[CodeStep]
    samples: list[list[list[float]]] = field(repr=False)

    @property
    def insensitive(self) -> bool:
        return bool(np.any(self.beta == 0))

    @property
    def coincident(self) -> bool:
        return any(c.at_shift for c in self.code)


# Machine shift sizes (--shifts): the range, and a harder one of small shifts
# (3-8%, where a shift is not far above the noise of a noisy series).
SHIFT_SIZES = {"wide": (0.75, 1.4, 0.08), "small": (0.92, 1.08, 0.03)}
_SHIFTS = ["wide"]  # set by main() before the workers fork


def _factor(rng: np.random.Generator) -> float:
    low, high, least = SHIFT_SIZES[_SHIFTS[0]]
    while True:
        f = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        if abs(f - 1) >= least:
            return f


def _code_ratio(rng: np.random.Generator) -> float:
    return float(rng.uniform(1.1, 1.5) if rng.random() < 0.5 else rng.uniform(0.7, 0.9))


def _place(rng: np.random.Generator, n: int, taken: list[int], lo: int = MARGIN,
           hi: int | None = None) -> int | None:
    """A commit in [lo, hi] at least MIN_GAP from every taken one (None: no room)."""
    hi = n - MARGIN if hi is None else min(hi, n - MARGIN)
    free = [p for p in range(lo, hi + 1) if all(abs(p - t) >= MIN_GAP for t in taken)]
    return int(free[int(rng.integers(len(free)))]) if free else None


def make_history(part: str, seed: int, number: int) -> EventHistory:
    """One labelled history (module docstring), deterministic for its three numbers."""
    rng = np.random.default_rng([PART_SEEDS[part], seed, number])
    n = int(rng.integers(150, 401))
    s = int(rng.integers(12, 61))
    noise = [NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))] for _ in range(s)]
    beta = rng.normal(1.0, 0.08, s)
    machine = rng.random() < MACHINE_SHARE
    if machine and rng.random() < INSENSITIVE_SHARE:
        off = rng.choice(s, max(1, round(s * rng.uniform(0.10, 0.20))), replace=False)
        beta[off] = 0.0
    shifts: list[Shift] = []
    taken: list[int] = []
    wanted = int(rng.integers(1, 5)) if machine else 0
    while len(shifts) < wanted:
        p = _place(rng, n, taken)
        if p is None:
            break
        f = _factor(rng)
        shifts.append(Shift(p, f))
        taken.append(p)
        if len(shifts) < wanted and rng.random() < REVERT_SHARE:
            q = _place(rng, n, taken, p + 10, p + 60)
            if q is not None:
                shifts.append(Shift(q, float(np.exp(-np.log(f) + rng.normal(0, 0.02))),
                                    p))
                taken.append(q)
    shifts.sort(key=lambda x: x.index)
    code: list[CodeStep] = []
    for _ in range(int(rng.integers(1, 6))):
        k = int(rng.integers(s))
        free_shifts = [x for x in shifts if not any(c.index == x.index and c.series == k
                                                    for c in code)]
        if free_shifts and rng.random() < AT_SHIFT_SHARE:
            shift = free_shifts[int(rng.integers(len(free_shifts)))]
            cancels = bool(rng.random() < CANCEL_SHARE and beta[k] > 0)
            if cancels:
                r = float(shift.factor ** -beta[k] * np.exp(rng.normal(0, 0.01)))
                r = float(np.clip(r, 0.7, 0.9) if r < 1 else np.clip(r, 1.1, 1.5))
            else:
                r = _code_ratio(rng)
            code.append(CodeStep(k, shift.index, r, True, cancels))
            continue
        p = _place(rng, n, taken)
        if p is None:
            continue
        code.append(CodeStep(k, p, _code_ratio(rng)))
        taken.append(p)
    code.sort(key=lambda c: (c.index, c.series))
    samples = [_series_samples(rng, n, noise[k], beta[k], shifts,
                               [c for c in code if c.series == k]) for k in range(s)]
    return EventHistory(number, n, noise, beta, shifts, code, samples)


def _series_samples(rng: np.random.Generator, n: int, kind: str, beta: float,
                    shifts: list[Shift], code: list[CodeStep]) -> list[list[float]]:
    level = np.full(n, 10 ** rng.uniform(-5, -1))
    for x in shifts:
        level[x.index:] *= x.factor ** beta
    for c in code:
        level[c.index:] *= c.ratio
    level = shape_level(rng, level, kind)
    counts = rng.integers(5, 11, n)
    counts[rng.random(n) < 0.02] = 0
    for c in code:  # the commits around a code step have data: the label is exact
        counts[c.index - 1:c.index + 1] = np.maximum(counts[c.index - 1:c.index + 1], 5)
    if kind == "offsets":
        tails = "t3" if rng.random() < 0.5 else "gauss"
        level *= build_offsets(rng, n, rng.uniform(0.005, 0.02), tails)
        u = rng.uniform(0.001, 0.005)
        return [[float(v) for v in lev * (1 + rng.normal(0, u, int(k)))]
                for lev, k in zip(level, counts, strict=True)]
    return [commit_samples(rng, float(lev), int(k), kind)
            for lev, k in zip(level, counts, strict=True)]


def _commits(part: str, seed: int, number: int, n: int) -> list[CommitInfo]:
    out = []
    for i in range(n):
        digest = hashlib.sha1(f"{part}/{seed}/{number}/{i}".encode()).hexdigest()
        out.append(CommitInfo(digest, 1.7e9 + 3600.0 * i, subject=f"commit {i}"))
    return out


def _info(k: int) -> SeriesInfo:
    name = f"time_s{k:02d}"
    return SeriesInfo(key=(name, ()), name=name, params={}, kind="time", unit="seconds",
                      version="1", higher_is_better=False)


# ---------------------------------------------------------------------------- scoring


@dataclass
class Score:
    """Counts of one history, or summed over many."""

    histories: int = 0
    code_tp: int = 0
    code_fp: int = 0
    code_fn: int = 0
    base_tp: int = 0
    base_fp: int = 0
    base_fn: int = 0
    env_tp: int = 0
    env_fp: int = 0
    env_fn: int = 0
    pairs_true: int = 0
    pairs_found: int = 0
    pairs_false: int = 0
    seconds: float = 0.0
    undo_true: list[float] = field(default_factory=list)  # undo share of true pairs found
    sizes: dict = field(default_factory=lambda: {"true code steps at a shift": [],
                                                 "machine steps called code": []})
    recall_by: Counter = field(default_factory=Counter)  # (kind, hit) -> count
    errors: Counter = field(default_factory=Counter)  # error category -> count
    examples: list[tuple[str, float, str]] = field(default_factory=list)  # category, ...

    def add(self, other: Score) -> None:
        for name, value in vars(other).items():
            if isinstance(value, (int, float)):
                setattr(self, name, getattr(self, name) + value)
        self.recall_by.update(other.recall_by)
        self.errors.update(other.errors)
        self.examples.extend(other.examples)
        self.undo_true.extend(other.undo_true)
        for name, values in other.sizes.items():
            self.sizes[name].extend(values)


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(job: tuple[str, int, int]) -> tuple[EventHistory, Score]:
    part, seed, number = job
    h = make_history(part, seed, number)
    commits = _commits(part, seed, number, h.n)
    series = [SeriesHistory(_info(k), h.samples[k]) for k in range(len(h.samples))]
    raw: dict[int, list] = {}
    ids = {id(x.samples): k for k, x in enumerate(series)}

    def one(samples, **kwargs):
        steps = detect_steps(samples, **kwargs)
        if id(samples) in ids and ids[id(samples)] not in raw:
            raw[ids[id(samples)]] = steps  # the first pass: the raw samples
        return steps

    def detect(*args, **kwargs):
        # finder's hook: (jobs of (samples, min_change, floor), alpha) -> steps per job;
        # earlier, detect_steps' own signature, one series a call
        if len(args) == 2 and isinstance(args[0], list) and not kwargs:
            return [one(x, alpha=args[1], min_change=m, noise_floor=f)
                    for x, m, f in args[0]]
        return one(*args, **kwargs)

    start = time.perf_counter()
    report = find_events(series, commits, alpha=0.05, detect=detect)
    out = Score(histories=1, seconds=time.perf_counter() - start)
    at = {c.hash: i for i, c in enumerate(commits)}
    index_of = {_info(k).name: k for k in range(len(series))}
    truth = {(c.series, c.index): c for c in h.code}

    # per-step baseline
    base = {(k, st.index) for k, steps in raw.items() for st in steps}
    out.base_tp = len(base & truth.keys())
    out.base_fp = len(base - truth.keys())
    out.base_fn = len(truth.keys() - base)

    # code steps
    steps_of: dict[int, list] = {}
    for c in report.changes:
        steps_of.setdefault(index_of[c.series.name], []).append((at[c.first_bad.hash], c))
    matched = set()
    for c in report.changes:
        if c.cause != Cause.CODE:
            continue
        key = (index_of[c.series.name], at[c.first_bad.hash])
        size = abs(float(np.log(c.code_ratio if c.code_ratio else c.ratio or 1.0)))
        if key in truth and key not in matched:
            matched.add(key)
            out.code_tp += 1
            if truth[key].at_shift:
                out.sizes["true code steps at a shift"].append(size)
            continue
        out.code_fp += 1
        k, i = key
        near_shift = min((abs(i - x.index) for x in h.shifts), default=None)
        near_code = [t for t in h.code if t.series == k and abs(t.index - i) <= NEAR]
        if key in truth:
            what = "duplicate"
        elif near_code:
            what = f"off by {i - near_code[0].index} from a true code step"
        elif near_shift is not None and near_shift <= 1:
            what = "machine step called code" + _why_code(h, k, i)
        elif near_shift is not None and near_shift <= NEAR:
            what = "machine step (misplaced) called code"
        else:
            what = f"noise step called code [{h.noise[k]}]"
        if what.startswith("machine step called code"):
            out.sizes["machine steps called code"].append(size)
        cat = f"code FP: {what}"
        out.errors[cat] += 1
        out.examples.append((cat, abs(np.log(c.ratio or 1.0)),
                             f"h{h.number} FP code {c.series.name}@{i} "
                             f"ratio {c.ratio:.3f} code_ratio {_r(c.code_ratio)} "
                                  f"[{h.noise[k]}, beta {h.beta[k]:.2f}]: {what}"
                                  + _shift_text(h, i)))
    for key, t in truth.items():
        kind = ("cancelling, at shift" if t.cancels else
                "at shift" if t.at_shift else "alone")
        if h.beta[t.series] == 0 and t.at_shift:
            kind += ", insensitive"
        hit = key in matched
        out.recall_by[(kind, hit)] += 1
        if hit:
            continue
        out.code_fn += 1
        near = [(i, c) for i, c in steps_of.get(t.series, []) if abs(i - t.index) <= NEAR]
        if not near:
            rawhit = any(abs(st.index - t.index) <= NEAR for st in raw.get(t.series, []))
            what = "no step found" + (" (raw step there, gone after correction)"
                                      if rawhit else "")
        else:
            i, c = min(near, key=lambda x: abs(x[0] - t.index))
            if c.cause == Cause.ENVIRONMENT:
                what = f"labelled environment (at {i - t.index:+d})"
            else:
                what = f"code step off by {i - t.index:+d}"
        cat = f"code FN ({kind}): {what}"
        out.errors[cat] += 1
        out.examples.append((cat, 1.0 + abs(np.log(t.ratio)),
                             f"h{h.number} MISSED code time_s{t.series:02d}@{t.index} "
                             f"x{t.ratio:.3f} ({kind}) [{h.noise[t.series]}, beta "
                             f"{h.beta[t.series]:.2f}]: {what}" + _shift_text(h, t.index)))

    # environment events
    env = [e for e in report.events if e.cause == Cause.ENVIRONMENT]
    spans = {e.number: (at[e.first.hash], at[e.last.hash]) for e in env}
    pairs = sorted(((abs(x.index - (spans[e.number][0] + spans[e.number][1]) / 2), j,
                     e.number) for j, x in enumerate(h.shifts) for e in env
                    if spans[e.number][0] - 1 <= x.index <= spans[e.number][1] + 1))
    shift_event: dict[int, int] = {}
    used = set()
    for _, j, number in pairs:
        if j not in shift_event and number not in used:
            shift_event[j] = number
            used.add(number)
    out.env_tp = len(shift_event)
    out.env_fn = len(h.shifts) - len(shift_event)
    out.env_fp = len(env) - len(used)
    code_events = [e for e in report.events if e.cause == Cause.CODE]
    for j, x in enumerate(h.shifts):
        if j in shift_event:
            continue
        first_pass = sum(1 for steps in raw.values()
                         if any(abs(st.index - x.index) <= 2 for st in steps))
        near_env = [e for e in env if abs(spans[e.number][0] - x.index) <= NEAR + 2]
        near_code = [e for e in code_events
                     if at[e.first.hash] - 1 <= x.index <= at[e.last.hash] + 1]
        if near_env:
            what = "environment event nearby, outside [first-1, last+1] or already used"
        elif near_code:
            what = f"called code (event of {max(e.size for e in near_code)} steps)"
        else:
            what = "no event"
        cat = f"shift FN: {what}"
        out.errors[cat] += 1
        out.examples.append((cat, 2.0 + abs(np.log(x.factor)),
                             f"h{h.number} MISSED shift @{x.index} x{x.factor:.3f} "
                             f"({len(series)} series, {int(np.sum(h.beta == 0))} "
                             f"insensitive): {what}; {first_pass} series step within 2 "
                             f"commits in the first pass"))
    for e in env:
        if e.number in used:
            continue
        first, last = spans[e.number]
        near_shift = [x for x in h.shifts if abs(x.index - first) <= NEAR + 2]
        near_code = [t for t in h.code if first - 2 <= t.index <= last + 2]
        what = ("second event at a matched shift" if near_shift else
                "at true code step(s)" if near_code else "noise")
        cat = f"env FP: {what}"
        out.errors[cat] += 1
        out.examples.append((cat, 1.5, f"h{h.number} FP environment event {e.number} "
                                  f"@{first}-{last}, {e.size} steps of {e.measured} "
                                  f"measured, ratio {_r(e.ratio)}: {what}"))

    # flip-flops
    event_of = {number: j for j, number in shift_event.items()}
    for j, x in enumerate(h.shifts):
        if x.reverts is None:
            continue
        a = next(i for i, y in enumerate(h.shifts) if y.index == x.reverts)
        out.pairs_true += 1
        ea, eb = shift_event.get(a), shift_event.get(j)
        found = ea is not None and eb is not None and any(
            e.number == eb and e.reverts == ea for e in env)
        out.pairs_found += found
        if found:
            continue
        if ea is None or eb is None:
            what = "a shift of it missed"
        elif j - a > 1:
            what = f"{j - a - 1} other shift(s) between the two"
        else:
            ra = next(e for e in env if e.number == ea)
            rb = next(e for e in env if e.number == eb)
            what = (f"adjacent, not paired (event ratios {_r(ra.ratio)}, {_r(rb.ratio)}; "
                    f"{ra.size} and {rb.size} steps; reverts {rb.reverts}, earlier "
                    f"reverted_by {ra.reverted_by})")
        cat = f"flip-flop not paired: {what.split(' (')[0]}"
        out.errors[cat] += 1
        out.examples.append((cat, 1.2, f"h{h.number} flip-flop @{h.shifts[a].index} "
                                  f"x{h.shifts[a].factor:.3f} / @{x.index} x{x.factor:.3f} "
                                  f"not paired: {what}"))
    for e in env:
        if e.reverts is None:
            continue
        ja, jb = event_of.get(e.reverts), event_of.get(e.number)
        true = (ja is not None and jb is not None
                and h.shifts[jb].reverts == h.shifts[ja].index)
        out.pairs_false += not true
        if not true:
            ea = next((x for x in env if x.number == e.reverts), None)
            what = ("two independent shifts that roughly cancel" if ja is not None
                    and jb is not None else "with an event that is no true shift")
            cat = f"false flip-flop pair: {what}"
            out.errors[cat] += 1
            if ea is not None:
                out.examples.append((cat, 1.1, f"h{h.number} false flip-flop: events @"
                                          f"{spans[ea.number][0]} x{_r(ea.ratio)} and @"
                                          f"{spans[e.number][0]} x{_r(e.ratio)}: {what}; "
                                          f"undo share {_undo(ea, e):.2f}"))
        else:
            out.undo_true.append(_undo(next(x for x in env if x.number == e.reverts), e))
    return h, out


def _why_code(h: EventHistory, k: int, i: int) -> str:
    """Why a machine step of series ``k`` at commit ``i`` may have been called code: its
    loading is learnt from the other shifts, where its own code steps mislead it."""
    others = [x for x in h.shifts if abs(x.index - i) > 1]
    poisoned = [t for t in h.code if t.series == k and t.at_shift and abs(t.index - i) > 1]
    if h.beta[k] == 0:
        tail = ", insensitive series"
    else:
        tail = ""
    if not others:
        return tail + ", only shift (no loading to learn)"
    if poisoned:
        return tail + ", series has a code step at another shift (loading misled)"
    close = [t for t in h.code if t.series == k and any(
        0 < abs(t.index - x.index) <= JUMP_NEAR for x in others)]
    if close:
        return tail + f", series has a code step <= {JUMP_NEAR} commits from another shift"
    return tail + f", {len(others)} other shift(s)"


def _undo(a, b) -> float:
    """How far two events' moves are from cancelling, as reversals.UNDO measures it."""
    up, down = np.log(a.ratio), np.log(b.ratio)
    return float(abs(up + down) / max(abs(up), abs(down)))


def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _shift_text(h: EventHistory, i: int) -> str:
    near = [x for x in h.shifts if abs(x.index - i) <= NEAR]
    return "".join(f"; shift @{x.index} x{x.factor:.3f}" for x in near)


# ---------------------------------------------------------------------------- report


ROWS = (
    ("all histories", lambda h: True),
    ("with insensitive series", lambda h: h.insensitive),
    ("code step at a shift's commit", lambda h: h.coincident),
    ("with a flip-flop pair", lambda h: any(x.reverts is not None for x in h.shifts)),
    ("no shift", lambda h: not h.shifts),
)


def _table(results: list[tuple[EventHistory, Score]]) -> Score:
    head = (f"{'histories':<30} {'n':>4} | {'code P':>6} {'R':>5} {'F1':>5} | "
            f"{'env P':>6} {'R':>5} {'F1':>5} | {'flip-flops':>10} {'false':>5} | "
            f"{'per-step P':>10} {'R':>5} {'F1':>5}")
    print(head)
    print("-" * len(head))
    total = Score()
    for name, keep in ROWS:
        s = Score()
        for h, one in results:
            if keep(h):
                s.add(one)
        if name == "all histories":
            total = s
        if not s.histories:
            continue
        cp, cr, cf = _f1(s.code_tp, s.code_fp, s.code_fn)
        ep, er, ef = _f1(s.env_tp, s.env_fp, s.env_fn)
        bp, br, bf = _f1(s.base_tp, s.base_fp, s.base_fn)
        env = (f"{ep:6.3f} {er:5.3f} {ef:5.3f}" if s.env_tp + s.env_fn
               else f"{s.env_fp:>3} false alarms ")
        print(f"{name:<30} {s.histories:>4} | {cp:6.3f} {cr:5.3f} {cf:5.3f} | {env} | "
              f"{f'{s.pairs_found}/{s.pairs_true}':>10} {s.pairs_false:>5} | "
              f"{bp:10.3f} {br:5.3f} {bf:5.3f}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("tune", "report"), default="report")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--examples", type=int, default=3,
                        help="worst misses of each kind to spell out (0: none)")
    parser.add_argument("--shifts", choices=sorted(SHIFT_SIZES), default="wide",
                        help="machine shift sizes: wide (0.75-1.4x, the issue's) or small "
                             "(3-8%%)")
    args = parser.parse_args()
    _SHIFTS[0] = args.shifts
    start = time.perf_counter()
    jobs = [(args.part, args.seed, i) for i in range(args.histories)]
    results = fork_map(score, jobs, args.jobs)
    wall = time.perf_counter() - start
    shifts = sum(len(h.shifts) for h, _ in results)
    steps = sum(len(h.code) for h, _ in results)
    series = sum(len(h.samples) for h, _ in results)
    print(f"part {args.part}, seed {args.seed}, {args.shifts} shifts: {len(results)} "
          f"histories, {series} series, "
          f"{shifts} machine shifts, {steps} code steps")
    print()
    total = _table(results)
    print()
    print("code recall by kind of step:")
    kinds = sorted({k for k, _ in total.recall_by})
    for kind in kinds:
        hit, miss = total.recall_by[(kind, True)], total.recall_by[(kind, False)]
        print(f"  {kind:<34} {hit:>4}/{hit + miss:<4} {hit / (hit + miss):.3f}")
    false_undo = [float(t.rsplit("undo share ", 1)[1]) for c, _, t in total.examples
                  if c.startswith("false flip-flop")]
    if total.undo_true or false_undo:
        print()
        print("undo share (|log a + log b| / larger |log|; reversals.UNDO pairs at <= "
              "0.5), quartiles:")
        for name, values in (("true pairs found", total.undo_true),
                             ("false pairs", false_undo)):
            if values:
                q = np.quantile(values, [0.25, 0.5, 0.75, 1.0])
                print(f"  {name:<18} n={len(values):<4} " + " ".join(f"{v:.2f}" for v in q))
    print()
    print("|log code_ratio| of code changes at a shift (the corrected step), quartiles:")
    for name, values in total.sizes.items():
        if values:
            q = np.quantile(values, [0.0, 0.1, 0.25, 0.5, 0.75])
            print(f"  {name:<28} n={len(values):<4} min, 10%, 25%, 50%, 75%: "
                  + " ".join(f"{v:.3f}" for v in q))
    print()
    print("errors:")
    for what, count in total.errors.most_common():
        print(f"  {count:>5}  {what}")
    if args.examples:
        print()
        print(f"examples (the largest {args.examples} of each kind of error):")
        for what, _ in total.errors.most_common():
            cases = sorted((x for x in total.examples if x[0] == what), key=lambda x: -x[1])
            if cases:
                print(f"  {what}:")
            for _, _, text in cases[:args.examples]:
                print(f"    {text}")
    print()
    _, _, cf = _f1(total.code_tp, total.code_fp, total.code_fn)
    _, _, ef = _f1(total.env_tp, total.env_fp, total.env_fn)
    met = cf >= TARGET and ef >= TARGET
    print(f"event finding {sum(s.seconds for _, s in results):.1f} s over "
          f"{len(results)} histories (wall {wall:.1f} s, {args.jobs} jobs)")
    print(f"targets (code F1 >= {TARGET}, environment F1 >= {TARGET}): "
          f"code {cf:.3f}, environment {ef:.3f}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
