"""Result files: round trips, strict JSON, atomic writes, and one-line errors on bad files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from histbench.core.errors import HistbenchError
from histbench.store import results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults
from histbench.store.statuses import BuildRecord, BuildStatus, Status


def make_run(n_results: int = 3) -> RunResults:
    runs = [
        BenchmarkResult(name=f"m.time_{i}", kind="time", params={"n": str(i)}, param_index=i,
                        version="abc", process_samples=[[1.0 + i, 1.1 + i], [0.9 + i]],
                        number=10).with_stats()
        for i in range(n_results)
    ]
    runs.append(BenchmarkResult(name="m.time_bad", kind="time", status="failed",
                                reason="raised ValueError: x", stderr_tail="Traceback..."))
    return RunResults(machine="box", env_name="virtualenv-py3.11",
                      commit=CommitInfo(hash="a" * 40, date=1.7e9, author="A", subject="s",
                                        parents=["b" * 40], branch="main"),
                      python="3.11", results=runs, settings={"rounds": 2})


def test_round_trip(tmp_path):
    run = make_run()
    path = results.save(run, tmp_path)
    assert path == tmp_path / "box" / f"{'a' * 12}-virtualenv-py3.11.json"
    loaded = results.load(path)
    assert loaded.to_dict() == run.to_dict()
    assert loaded.results[0].stats == run.results[0].stats
    assert loaded.results[1].samples == [2.0, 2.1, 1.9]
    assert loaded.results[-1].reason == "raised ValueError: x"


def test_files_are_strict_json_with_schema(tmp_path):
    path = results.save(make_run(), tmp_path)
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert data["schema"] == "histbench-results" and data["schema_version"] == 1
    r = data["results"][0]
    for key in ("mean", "std", "median", "ci_low", "ci_high", "median_ci_low", "outliers"):
        assert key in r["stats"]


def test_nan_never_reaches_disk(tmp_path):
    run = make_run()
    run.results[0].extra["bad"] = math.nan
    with pytest.raises(ValueError):
        results.save(run, tmp_path)
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.tmp"))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    run = make_run()
    path = results.save(run, tmp_path)
    before = path.read_text()
    run.results[0].extra["bad"] = math.inf
    with pytest.raises(ValueError):
        results.save(run, tmp_path)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("content, words", [
    ('{"schema": "histbench-results", "schema_version": 1, "machine": ', "not valid JSON"),
    ("\x00\xff garbage", "not valid JSON"),
    ('{"result_columns": [], "version": 2}', "not a histbench result file"),
    ('{"schema": "histbench-results", "schema_version": 99}', "schema version 99"),
    ('{"schema": "histbench-results", "schema_version": 1}', "malformed result file"),
    ('{"schema": "histbench-results", "schema_version": 1, "machine": "m", "env_name": "e",'
     ' "results": [{"name": "x", "kind": "time", "status": "weird"}]}', "malformed"),
])
def test_corrupt_or_foreign_files_name_themselves(tmp_path, content, words):
    path = tmp_path / "m" / "deadbeef-env.json"
    path.parent.mkdir()
    path.write_text(content, errors="surrogateescape")
    with pytest.raises(HistbenchError) as info:
        results.load(path)
    assert str(path) in str(info.value) and words in str(info.value)
    assert "\n" not in str(info.value)


def test_listing_skips_machine_json(tmp_path):
    results.save(make_run(), tmp_path)
    (tmp_path / "box" / "machine.json").write_text("{}")
    assert len(results.load_machine_results(tmp_path, "box")) == 1
    assert results.load_machine_results(tmp_path, "other") == []


def test_key_ignores_param_position():
    a = BenchmarkResult(name="x", kind="time", params={"n": "1"}, param_index=0)
    b = BenchmarkResult(name="x", kind="time", params={"n": "1"}, param_index=5)
    assert a.key == b.key and a.label == "x(n=1)"


def test_statuses_are_enums_that_read_as_their_words(tmp_path):
    """Loaded statuses are Enums; files, tables and f-strings still read ``failed``."""
    run = make_run()
    run.build = BuildRecord(BuildStatus.FAILED, reason="no wheel", log_tail="...",
                            duration=1.5)
    path = results.save(run, tmp_path)
    loaded = results.load(path)
    bad = loaded.results[-1]
    assert bad.status is Status.FAILED and f"{bad.status}: {bad.reason}".startswith("failed: ")
    assert type(bad.to_dict()["status"]) is str
    assert loaded.build_failed and loaded.build == run.build
    data = json.loads(path.read_text())
    assert list(data["build"]) == ["status", "reason", "log_tail", "duration"]
    assert data["results"][-1]["status"] == "failed"


@pytest.mark.parametrize("build", [
    {"status": "ok"},
    {"status": "ok", "cached": False, "duration": 2.0},
    {"status": "failed", "reason": "x", "log_tail": "", "duration": 0.5},
])
def test_build_records_keep_their_json(build):
    assert BuildRecord.from_dict(build).to_dict() == build
    assert list(BuildRecord.from_dict(build).to_dict()) == list(build)


def _file_with(mutate) -> dict:
    """A valid result file's JSON, changed by ``mutate`` (which edits it in place)."""
    data = make_run().to_dict()
    mutate(data)
    return data


def _set(path: str, value):
    def mutate(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return mutate


@pytest.mark.parametrize("mutate, words", [
    (_set("results.0.process_samples", [["0.1", "0.2"]]), "not a number"),
    (_set("results.0.process_samples", "0.1"), "list of lists"),
    (_set("results.0.process_samples", [[0.1, None]]), "not a number"),
    (_set("results.0.process_samples", [[0.1, True]]), "not a number"),
    (_set("results.0.process_samples", [[-0.1, 0.2]]), "cannot be negative"),
    (_set("results.0.measured_samples", [[0.1], 7]), "list of lists"),
    (_set("results.0.name", 12), "must be a string"),
    (_set("results.0.unit", ["s"]), "must be a string"),
    (_set("commit.hash", 1234567), "not a hex string"),
    (_set("commit.hash", "not-a-hash"), "not a hex string"),
    (_set("commit.subject", None), "must be strings"),
    (_set("commit.date", "yesterday"), "not a number"),
    (_set("commit.parents", "abc"), "list of hashes"),
    (_set("commit.date", -1e18), "not a number of seconds"),
    (_set("commit.date", 1e300), "not a number of seconds"),
    (_set("results.0.params", ["1"]), "object of strings"),
    (_set("results.0.params", {"n": 1}), "object of strings"),
    (_set("results.0.kind", "banana"), "is not one of"),
    (_set("results.0.higher_is_better", "false"), "true or false"),
    (_set("results.0.number", -5), "positive integer"),
    (_set("results.0.stats", [1]), "must be an object"),
    (_set("results", {}), "must be a list"),
    (_set("settings", [1]), "must be an object"),
    (_set("build", ["ok"]), "must be an object"),
    (_set("requirements", [1]), "must be an object"),
    (_set("env_name", 3), "env_name must be a string"),
    (_set("complete", "no"), "true or false"),
    (lambda d: d["results"].append(dict(d["results"][0])), "in the file twice"),
])
def test_result_files_with_wrong_shapes_name_themselves(tmp_path, mutate, words):
    """Through the full loader and the site's fast path (site/model.condense_file) alike:
    a damaged field is one line naming the file, never a traceback or a wrong figure."""
    from histbench.site.model import condense_file

    path = tmp_path / "m" / "deadbeef-env.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_file_with(mutate)))
    for read in (results.load, condense_file):
        with pytest.raises(HistbenchError) as info:
            read(path)
        assert str(path) in str(info.value) and words in str(info.value)
        assert "\n" not in str(info.value)


def test_a_result_file_that_is_a_fifo_or_huge_is_one_line_not_a_hang(tmp_path):
    import os

    from histbench.site.model import condense_file

    fifo = tmp_path / "m" / "deadbeef-env.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    for read in (results.load, condense_file):
        with pytest.raises(HistbenchError, match="not a regular file"):
            read(fifo)


def test_lost_summary_and_huge_or_empty_samples(tmp_path):
    """``stats: null`` is rebuilt from the samples; an ok result without samples has no
    summary and breaks nothing; a folder where a file should be is one line."""
    data = _file_with(_set("results.0.stats", None))
    path = tmp_path / "m" / "deadbeef-env.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    loaded = results.load(path).results[0]
    assert loaded.stats is not None and loaded.stats.median == make_run().results[0].stats.median
    path.write_text(json.dumps(_file_with(_set("results.0.process_samples", []))))
    assert results.load(path).results[0].stats is not None  # the stored summary stays
    folder = tmp_path / "m" / "abcdef12-env.json"
    folder.mkdir()
    with pytest.raises(HistbenchError, match="cannot read result file"):
        results.load(folder)


@pytest.mark.parametrize("content", ["{", "[]", '{"schema": "other"}',
                                     '{"schema": "histbench-benchmarks", "benchmarks": [1]}',
                                     '{"schema": "histbench-benchmarks", "benchmarks": {"a": 1}}'])
def test_a_damaged_benchmarks_file_is_one_line_and_missing_is_none(tmp_path, content):
    assert results.load_benchmark_info(tmp_path) == {}
    (tmp_path / results.BENCHMARKS_FILE).write_text(content)
    with pytest.raises(HistbenchError) as info:
        results.load_benchmark_info(tmp_path)
    assert results.BENCHMARKS_FILE in str(info.value) and "delete it" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("samples", [[[5.0, 6.0]], [[1.0], [2.0, 3.0]], [[0.5] * 20]])
def test_a_summary_that_is_not_of_its_samples_is_made_again(tmp_path, samples):
    """Samples edited, summary left (by hand, or a tool that rewrote one): the figures
    shown must be the samples', never a stale summary's."""
    data = _file_with(_set("results.0.process_samples", samples))
    path = tmp_path / "m" / "deadbeef-env.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    loaded = results.load(path).results[0]
    flat = sorted(v for g in samples for v in g)
    assert loaded.stats.n == len(flat) and loaded.stats.min == flat[0]
    assert loaded.stats.median == pytest.approx(float(np.median(flat)))
