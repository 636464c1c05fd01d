"""-b selects as asv selects: a benchmark without parameters by its name, a parameterised
one parameter set by parameter set, by ``name(v1, v2)`` with the values' reprs; and a run
that leaves benchmarks out with -b neither loses nor "removes" them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toyrepo import ToyCommit

from histbench.analysis.name_match import name_regex
from histbench.run.suite import BenchmarkSpec, Suite, call_labels
from histbench.store import results

SORT = BenchmarkSpec(name="bench.Sort.time_sort", module="bench", kind="time",
                     params=[["1000", "10"], ["'random'", "'sorted'"]],
                     param_names=["n", "kind"])
PLAIN = BenchmarkSpec(name="bench.time_plain", module="bench", kind="time")
SUITE = Suite([SORT, PLAIN])


def _chosen(*patterns: str) -> dict[str, list[int] | None]:
    return {b.name: [i for i, _ in b.chosen()] for b in SUITE.select(list(patterns)).benchmarks}


def test_labels_are_asvs_spelling():
    assert call_labels(SORT.name, SORT.params) == [
        "bench.Sort.time_sort(1000, 'random')", "bench.Sort.time_sort(1000, 'sorted')",
        "bench.Sort.time_sort(10, 'random')", "bench.Sort.time_sort(10, 'sorted')"]
    assert call_labels(PLAIN.name, []) == [PLAIN.name]


@pytest.mark.parametrize(("patterns", "expected"), [
    (["time_sort"], {SORT.name: [0, 1, 2, 3]}),
    ([r"time_sort\(1000"], {SORT.name: [0, 1]}),
    (["sorted'\\)$"], {SORT.name: [1, 3]}),
    ([r"\(10, "], {SORT.name: [2, 3]}),
    (["^bench.Sort.time_sort$"], {}),  # asv: a parameterised name never ends there
    (["time_plain$"], {PLAIN.name: None}),
    (["bench"], {SORT.name: [0, 1, 2, 3], PLAIN.name: None}),
    ([r"time_sort\(10, 'random", "plain"], {SORT.name: [2], PLAIN.name: None}),
    (["nothing"], {}),
])
def test_selection_follows_asvs_rule(patterns, expected):
    chosen = _chosen(*patterns)
    assert set(chosen) == set(expected)
    for name, indices in expected.items():
        assert chosen[name] == (indices if indices is not None else [0])


def test_a_bad_regex_is_one_line():
    from histbench.core.errors import HistbenchError

    with pytest.raises(HistbenchError, match="not a valid regex"):
        SUITE.select(["time_sort("])


values = st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)),
                 min_size=1, max_size=6)


@given(st.lists(st.lists(values, min_size=1, max_size=3, unique=True), min_size=1,
                max_size=3), st.data())
def test_a_series_regex_selects_exactly_its_parameter_set(params, data):
    """What bisect and the site hand back to -b runs that one series, whatever characters
    its values hold."""
    reprs = [[repr(v) for v in p] for p in params]
    names = [f"p{i}" for i in range(len(reprs))]
    bench = BenchmarkSpec(name="m.C.time_x", module="m", kind="time", params=reprs,
                          param_names=names)
    sets = bench.param_sets()
    k = data.draw(st.integers(0, len(sets) - 1))
    key = (bench.name, tuple(sets[k].items()))
    [picked] = Suite([bench]).select([name_regex(key)]).benchmarks
    assert [i for i, _ in picked.chosen()] == [k]
    assert re.search(name_regex(key), call_labels(bench.name, reprs)[k])


PARAM_SUITE = textwrap.dedent("""\
    import toypkg


    class Sort:
        params = [[1000, 10], ["random", "sorted"]]
        param_names = ["n", "kind"]

        def time_sort(self, n, kind):
            toypkg.compute(n)


    def track_work():
        return toypkg.WORK


    def track_other():
        return 1
    """)


def _histbench(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=repo,
                          capture_output=True, text=True, timeout=600)


def _keys(repo: Path, sha: str) -> dict[tuple, float]:
    [run] = [r for r in results.load_machine_results(repo / "results", "m")
             if r.commit.hash == sha]
    return {r.key: r.started_at for r in run.results}


def test_runs_measure_only_the_chosen_sets_and_reruns_replace_only_those(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    (repo / "benchmarks" / "bench_params.py").write_text(PARAM_SUITE)
    proc = _histbench(repo, "run", hashes[0], "--machine", "m", "--quick",
                      "-b", r"time_sort\(1000")
    assert proc.returncode == 0, proc.stderr
    first = _keys(repo, hashes[0])
    assert {(k[0], dict(k[1])["kind"]) for k in first} == {
        ("bench_params.Sort.time_sort", "'random'"), ("bench_params.Sort.time_sort", "'sorted'")}
    assert all(dict(k[1])["n"] == "1000" for k in first)

    proc = _histbench(repo, "run", hashes[0], "--machine", "m", "--quick", "-b", "track_")
    assert proc.returncode == 0, proc.stderr
    second = _keys(repo, hashes[0])
    assert set(first) < set(second) and all(second[k] == first[k] for k in first)
    assert {k[0] for k in second} >= {"bench_params.track_work", "bench_toy.track_work"}

    proc = _histbench(repo, "run", hashes[0], "--machine", "m", "--quick",
                      "-b", r"time_sort\(1000, 'sorted'")
    third = _keys(repo, hashes[0])
    assert set(third) == set(second)
    replaced = [k for k in third if third[k] != second[k]]
    assert [dict(k[1]) for k in replaced] == [{"n": "1000", "kind": "'sorted'"}]


def test_left_out_by_b_is_not_gone_but_removed_is(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    (repo / "benchmarks" / "bench_params.py").write_text(PARAM_SUITE)
    assert _histbench(repo, "run", hashes[0], "--machine", "m", "--quick").returncode == 0
    (repo / "benchmarks" / "bench_params.py").write_text(
        PARAM_SUITE.replace("def track_other():\n    return 1\n", ""))
    proc = _histbench(repo, "run", hashes[1], "--machine", "m", "--quick", "-b", "track_work")
    assert proc.returncode == 0, proc.stderr
    proc = _histbench(repo, "compare", hashes[0], hashes[1], "--format", "json")
    rows = {(r["name"], json.dumps(r["params"])): r["verdict"]
            for r in json.loads(proc.stdout)["rows"]}
    verdicts = {name: v for (name, _), v in rows.items()}
    assert verdicts["bench_params.track_other"] == "gone"  # removed from the suite
    assert verdicts["bench_params.Sort.time_sort"] == "not run"  # left out by -b
    assert verdicts["bench_toy.time_compute"] == "not run"
    assert verdicts["bench_toy.track_work"] != "not run"
