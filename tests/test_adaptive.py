"""`run --adaptive`: the planner on synthetic series (pure, fast), and the whole loop on a
toy history measured for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import FAST_ATTRS
from toyrepo import ToyCommit, git, make_repo

from histbench.analysis.adaptive import (
    SeriesData,
    default_grid,
    grid_indices,
    plan,
    spacing,
)


def levels_of(n: int, steps: list[tuple[int, float]]) -> np.ndarray:
    level = np.ones(n)
    for at, ratio in steps:
        level[at:] *= ratio
    return level


def simulate(n: int, steps: list[tuple[int, float]], *, noise: float = 0.01,
             budget: int | None = None, seed: int = 0, grid: int | None = None):
    """Run the planner to the end on a noisy series: 4 processes x 5 samples a commit."""
    rng = np.random.default_rng(seed)
    level = levels_of(n, steps)
    samples: dict[int, list[list[float]]] = {}
    measured: set[int] = set()
    while True:
        left = None if budget is None else budget - len(measured)
        step = plan(n, {"s": SeriesData(samples)}, measured, budget=left, grid=grid)
        if step.done:
            return measured, step
        for i in step.measure:
            measured.add(i)
            samples[i] = [list(level[i] * np.exp(rng.normal(0, noise, 5))) for _ in range(4)]


def test_grid_spans_the_range_evenly():
    assert grid_indices(1000)[:3] == [0, 20, 40] and grid_indices(1000)[-1] == 999
    assert len(grid_indices(1000)) == 51 and spacing(1000) == 20
    assert default_grid(40) == 5 and grid_indices(40) == [0, 8, 16, 23, 31, 39]
    assert grid_indices(3) == [0, 2]


def test_steps_pinned_exactly_with_few_measurements():
    steps = [(150, 1.03), (400, 1.5), (430, 0.8), (700, 1.2), (720, 1 / 1.2)]
    measured, step = simulate(1000, steps)
    assert sorted(p.first_bad for p in step.pinned) == [at for at, _ in steps]
    assert all(p.first_bad == p.last_good + 1 for p in step.pinned)
    assert len(measured) <= 80  # 8% of the history
    assert not step.open


def test_no_step_no_bisection():
    # the grid, and a few midpoints where one comparison was much less certain than the rest
    measured, step = simulate(1000, [])
    assert len(measured) <= len(grid_indices(1000)) + 6 and not step.pinned


def test_reverted_change_lasting_a_grid_spacing_is_found():
    # 20 commits at +10%, starting anywhere: a grid commit always falls inside
    for start in (1, 7, 13, 19):
        measured, step = simulate(1000, [(start + 300, 1.1), (start + 320, 1 / 1.1)],
                                  seed=start)
        assert sorted(p.first_bad for p in step.pinned) == [start + 300, start + 320]


def test_budget_is_respected_and_leaves_steps_open():
    measured, step = simulate(1000, [(400, 1.5)], budget=55)
    assert len(measured) == 55
    assert step.open and not step.pinned


def test_counts_need_one_sample_per_probe():
    n = 200
    level = levels_of(n, [(77, 1.01)])  # 1%: ten times the count floor
    samples: dict[int, list[list[float]]] = {}
    measured: set[int] = set()
    while (step := plan(n, {"c": SeriesData(samples, noise_floor=0.001)}, measured)).measure:
        for i in step.measure:
            measured.add(i)
            samples[i] = [[level[i] * 1e6]]
    assert [p.first_bad for p in step.pinned] == [77]
    assert len(measured) < 40


def test_a_commit_without_data_is_stepped_over():
    # 41 has no data (a failed build): the step 40 -> 42 is as close as it gets
    n = 80
    level = levels_of(n, [(41, 2.0)])
    samples, measured = {}, set()
    while (step := plan(n, {"t": SeriesData(samples)}, measured)).measure:
        for i in step.measure:
            measured.add(i)
            if i != 41:
                samples[i] = [[level[i]] * 3]
    assert not step.pinned and [(iv.lo, iv.hi) for iv in step.stuck] == [(40, 42)]


# -- the whole loop, measured for real ------------------------------------------------

def histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)


def measured_hashes(repo: Path) -> set[str]:
    return {json.loads(p.read_text())["commit"]["hash"]
            for p in (repo / "results").rglob("*.json")
            if p.name not in ("machine.json", "calibration.json")
            and "commit" in json.loads(p.read_text())}


def test_adaptive_run_pins_both_steps_and_resumes(tmp_path, shared_env_dir):
    works = [10_000] * 13 + [30_000] * 16 + [15_000] * 11  # steps at commits 13 and 29
    repo = tmp_path / "repo"
    # two processes: two equal track_ values a commit, which step detection (the site,
    # `regressions`) takes as an exact series
    hashes = make_repo(repo, [ToyCommit(work=w) for w in works],
                       bench_attrs={**FAST_ATTRS, "rounds": 2},
                       config={"env_dir": str(shared_env_dir)})
    first = histbench(repo, "run", "main", "--adaptive",
                      "-b", "track_work", "--machine", "toy")
    assert first.returncode == 0, first.stderr
    assert "adaptive:" in first.stderr and "steps pinned" in first.stderr
    done = measured_hashes(repo)
    assert hashes[12] in done and hashes[13] in done  # last good and first bad, adjacent
    assert hashes[28] in done and hashes[29] in done
    assert len(done) <= 20  # of 40
    regressions = histbench(repo, "regressions", "--all", "--format", "json")
    changes = json.loads(regressions.stdout)["changes"]
    assert {(c["last_good"], c["first_bad"], c["commits_spanned"]) for c in changes} == {
        (hashes[12], hashes[13], 1), (hashes[28], hashes[29], 1)}
    again = histbench(repo, "run", "main", "--adaptive",
                      "-b", "track_work", "--machine", "toy")
    assert again.returncode == 0, again.stderr
    assert measured_hashes(repo) == done
    assert "(0 by this run)" in again.stderr
    # the site says which commits were measured and which skipped
    assert histbench(repo, "publish").returncode == 0
    index = (repo / "html" / "index.html").read_text()
    assert f"Measured {len(done)} of the 40 first-parent commits" in index
    pages = [p.read_text() for p in (repo / "html").glob("*/c/*.html")]
    assert len(pages) == len(done)
    assert sum("between, not measured" in page for page in pages) >= 1


def test_budget_resume_and_new_commits(tmp_path, shared_env_dir):
    works = [10_000] * 17 + [12_000] * 7  # one step, at commit 17 of 24
    repo = tmp_path / "repo"
    hashes = make_repo(repo, [ToyCommit(work=w) for w in works],
                       bench_attrs={**FAST_ATTRS, "rounds": 2},
                       config={"env_dir": str(shared_env_dir)})
    args = ("-b", "track_work", "--machine", "toy")
    assert "--adaptive" in histbench(repo, "run", "main", "--budget", "2", *args).stderr
    cut = histbench(repo, "run", "main", "--adaptive", "--budget", "2", *args)
    assert cut.returncode == 0, cut.stderr
    assert len(measured_hashes(repo)) == 2 and "budget spent" in cut.stderr
    rest = histbench(repo, "run", "main", "--adaptive", *args)
    assert rest.returncode == 0, rest.stderr
    done = measured_hashes(repo)
    assert {hashes[16], hashes[17]} <= done and len(done) < len(works)
    stamps = {p: p.stat().st_mtime_ns for p in (repo / "results").rglob("*-virtualenv-*")}
    # three new commits, the last one a step: NEW starts at the newest measured commit
    for i, work in enumerate([12_000, 12_000, 20_000]):
        (repo / "toypkg" / "__init__.py").write_text(f"WORK = {work}\n\n\n"
                                                     "def compute(n=WORK):\n    return n\n")
        git(repo, "commit", "-qam", f"new {i}", "--allow-empty")
    new = git(repo, "rev-parse", "HEAD")
    nightly = histbench(repo, "run", "NEW", "--adaptive", *args)
    assert nightly.returncode == 0, nightly.stderr
    # only new commits measured: the range's ends, and the midpoints down to the step
    assert measured_hashes(repo) - done == {git(repo, "rev-parse", f"HEAD~{k}")
                                            for k in range(3)}
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # nothing remeasured
    assert f"track_work at {new[:8]}" in nightly.stderr
