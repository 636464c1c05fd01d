"""Bisect from where users start: after a sampled or full nightly run, from a reported step.

The series bisected is ``track_work`` (the toy project's work count): it is exact, so the
culprit found does not depend on how quiet the machine is, while every part of the
workflow (run, regressions, the command it prints, the runner measuring probes in
interleaved batches, reading back one series out of result files that hold everything)
is the real one.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toyrepo import ToyCommit, make_repo

from histbench.analysis.bisect import bisect, earlier_batches
from histbench.analysis.name_match import matching, pick_one, shell_quote, split_call
from histbench.core.errors import HistbenchError
from histbench.store.results import BenchmarkResult, CommitInfo

STEP_AT = 15


def histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def stepped(tmp_path_factory, shared_env_dir):
    """30 commits, +25% work from commit 15 on; two processes a benchmark."""
    commits = [ToyCommit(work=20_000)] * STEP_AT + [
        ToyCommit(work=25_000, subject="the culprit")] + [ToyCommit(work=25_000)] * 14
    repo = tmp_path_factory.mktemp("stepped") / "repo"
    hashes = make_repo(repo, commits, bench_attrs={"rounds": 2, "repeat": 3,
                                                   "warmup_time": 0.02},
                       config={"env_dir": str(shared_env_dir)})
    return repo, hashes


def _track_step(repo: Path) -> dict:
    proc = histbench(repo, "regressions", "--format", "json", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    [step] = [c for c in json.loads(proc.stdout)["changes"]
              if c["benchmark"] == "bench_toy.track_work"]
    return step


def test_from_a_sampled_run_to_the_exact_commit(stepped):
    repo, hashes = stepped
    run = histbench(repo, "run", "main", "--steps", "5", "--machine", "m")
    assert run.returncode == 0, run.stderr
    step = _track_step(repo)
    # --steps 5 measured commits 0, 7, 14, 22 and 29: the step lies between 14 and 22.
    assert (step["last_good"], step["first_bad"]) == (hashes[14], hashes[22])
    assert step["commits_spanned"] == 8 and step["kind"] == "regression"
    command = step["bisect_command"]
    text = histbench(repo, "regressions", "--machine", "m").stdout
    assert f"#{step['number']}: {command}" in text  # the same command, ready to paste
    assert histbench(repo, "publish").returncode == 0  # the site offers the same command
    page = next((repo / "html").glob("*/b/bench_toy.track_work.html")).read_text()
    assert f"histbench bisect {hashes[14][:12]} {hashes[22][:12]}" in page
    argv = shlex.split(command)
    assert argv[:2] == ["histbench", "bisect"]
    started = time.monotonic()
    proc = histbench(repo, *argv[1:])
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert f"culprit: {hashes[STEP_AT]} the culprit" in proc.stdout
    assert f"last good: {hashes[STEP_AT - 1]}" in proc.stdout
    probes = int(re.search(r"(\d+) probes, (\d+) of 9 commits measured", proc.stdout)[1])
    assert probes == 3  # log2(8): every probe decided by one batch (exact values)
    print(f"workflow: {probes} probes, {proc.stdout.splitlines()[4]}, {took:.0f} s")
    # The probes' results joined the history: the step is now at its exact commit, and
    # the site offers no bisect any more.
    assert histbench(repo, "publish").returncode == 0
    page = next((repo / "html").glob("*/b/bench_toy.track_work.html")).read_text()
    assert "histbench bisect" not in page and hashes[STEP_AT][:8] in page


def test_after_a_full_run_by_name_and_by_step_number(stepped):
    repo, hashes = stepped
    run = histbench(repo, "run", "main", "--machine", "m", "--skip-existing")
    assert run.returncode == 0, run.stderr
    step = _track_step(repo)
    assert (step["last_good"], step["first_bad"]) == (hashes[STEP_AT - 1], hashes[STEP_AT])
    assert step["bisect_command"] is None and step["commits_spanned"] == 1
    # Every result file now holds every benchmark: -b still names one series.
    for name in ("track_work", "bench_toy.track_work", "track_work()"):
        proc = histbench(repo, "bisect", hashes[10], hashes[20], "-b", name, "--machine", "m")
        assert proc.returncode == 0, proc.stderr
        assert f"culprit: {hashes[STEP_AT]}" in proc.stdout
    proc = histbench(repo, "bisect", "--step", str(step["number"]), "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    assert f"culprit: {hashes[STEP_AT]}" in proc.stdout  # a range of one: no probe needed
    proc = histbench(repo, "bisect", hashes[10], hashes[20], "-b", "bench_toy",
                     "--machine", "m")
    assert proc.returncode == 1
    assert "-b bench_toy.time_compute" in proc.stderr and "-b bench_toy.track_work" in \
        proc.stderr  # every candidate listed, ready to paste
    proc = histbench(repo, "bisect", "--step", "99", "--machine", "m")
    assert proc.returncode == 1 and "--step 99" in proc.stderr


KEYS = [("m.time_sort", (("n", "10"), ("kind", "'random'"))),
        ("m.time_sort", (("n", "10"), ("kind", "'sorted'"))),
        ("m.time_sort", (("n", "1000"), ("kind", "'random'"))),
        ("m.time_sort_big", ()), ("m.Suite.time_a", ()), ("other.time_a", ())]


@pytest.mark.parametrize("spelling", [
    "m.time_sort(10, 'sorted')",            # asv's spelling: values in order
    "time_sort(n=10, kind='sorted')",       # histbench's label, short name
    "m.time_sort(kind='sorted', n=10)",     # keywords in any order
])
def test_a_parameter_set_is_named_as_either_tool_prints_it(spelling):
    assert pick_one(spelling, KEYS) == KEYS[1]


def test_ambiguous_names_list_every_candidate():
    with pytest.raises(HistbenchError) as info:
        pick_one("time_sort", KEYS)
    message = str(info.value)
    assert "matches 3 benchmarks" in message  # an exact name beats its longer cousins
    for n in ("10", "1000"):
        assert f"m.time_sort(n={n}, kind='random')" in message
    assert len(matching("time_a", KEYS)) == 2 and matching("time_sort_b", KEYS) == [KEYS[3]]
    assert pick_one("other.time_a", KEYS) == KEYS[5]
    with pytest.raises(HistbenchError, match="matches no benchmark"):
        pick_one("nothing_like_it", KEYS)
    assert split_call("f(a, (1, 2), 'x,y')") == ("f", ["a", "(1, 2)", "'x,y'"])


@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=1))
def test_quoted_names_paste_back_as_one_word(text):
    assert shlex.split(shell_quote(text)) == [text]


def _commits(n: int) -> list[CommitInfo]:
    return [CommitInfo(hash=f"{i:040x}", subject=f"c{i}") for i in range(n)]


def _result(value: float, batch: str | None, version: str = "v1") -> BenchmarkResult:
    return BenchmarkResult(name="b.track_x", kind="track", version=version,
                           process_samples=[[value], [value]],
                           extra={"batch": batch} if batch else {})


def test_earlier_measurements_count_only_when_comparable():
    commits = _commits(8)
    found = [(commits[i].hash, _result(1.0 if i < 5 else 2.0, "b1")) for i in (0, 7)]
    found += [(commits[3].hash, _result(1.0, None)),           # a sequential run: no
              (commits[4].hash, _result(1.0, "b2", "v0")),     # another version: no
              (commits[6].hash, _result(2.0, "b3"))]           # alone in its batch: no
    earlier = earlier_batches(found, "v1")
    assert earlier == [{commits[0].hash: [[1.0], [1.0]], commits[7].hash: [[2.0], [2.0]]}]
    asked: list[list[str]] = []

    def measure(batch: list[CommitInfo]) -> dict[str, list[list[float]]]:
        asked.append([c.subject for c in batch])
        return {c.hash: [[1.0 if int(c.hash, 16) < 5 else 2.0]] for c in batch}

    result = bisect(commits, measure, earlier=earlier)
    assert result.culprit.subject == "c5"
    # One new value a side is no evidence alone; with the earlier batch the ends differ
    # at once, so the ends were measured a single time.
    assert asked[0] == ["c0", "c7"] and asked.count(["c0", "c7"]) == 1
