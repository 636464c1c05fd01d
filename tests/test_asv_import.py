"""Importing asv results: a slice of Django's real asv history, plus asv's edge cases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_django_results

from histbench.analysis.series import load_history
from histbench.store import results
from histbench.store.asv_import import import_asv

NAME = "form_benchmarks.form_clean.benchmark.FormClean.time_form_clean"


@pytest.fixture(scope="module")
def django_slice(tmp_path_factory) -> Path:
    """benchmarks.json, machine.json and 12 commit files of the real history."""
    django = shared_django_results()
    root = tmp_path_factory.mktemp("asv") / "results"
    (root / "ubuntu-latest").mkdir(parents=True)
    shutil.copy(django / "benchmarks.json", root)
    shutil.copy(django / "ubuntu-latest" / "machine.json", root / "ubuntu-latest")
    for path in sorted((django / "ubuntu-latest").glob("*-conda-py3.12.json"))[:12]:
        shutil.copy(path, root / "ubuntu-latest")
    return root


def test_real_history_imports_with_raw_samples(django_slice, tmp_path):
    report = import_asv(django_slice, tmp_path)
    assert len(report.imported) == 12 and report.skipped == []
    assert (tmp_path / "ubuntu-latest" / "machine.json").exists()
    source = json.loads(sorted((django_slice / "ubuntu-latest").glob("*-conda*.json"))[0]
                        .read_text())
    run = results.load(results.result_path(tmp_path, "ubuntu-latest", source["commit_hash"],
                                           "conda-py3.12"))
    assert run.commit.date == source["date"] / 1000
    columns = source["result_columns"]
    row = source["results"][NAME]
    mine = next(r for r in run.results if r.name == NAME)
    assert mine.samples == row[columns.index("samples")][0]
    assert mine.version == row[columns.index("version")]
    assert mine.number == row[columns.index("stats_number")][0]
    assert mine.stats.median == pytest.approx(row[columns.index("result")][0], rel=0.02)
    assert mine.extra["asv_samples"] is True
    history = load_history(tmp_path, "ubuntu-latest")
    assert len(history.commits) == 12
    assert [c.date for c in history.commits] == sorted(c.date for c in history.commits)


def _asv_file(folder: Path, sha: str, results_: dict, version: int = 2) -> Path:
    path = folder / f"{sha[:8]}-virtualenv-py3.11.json"
    data = {"commit_hash": sha, "env_name": "virtualenv-py3.11", "date": 1700000000000,
            "params": {}, "python": "3.11", "requirements": {}, "env_vars": {},
            "result_columns": ["result", "params", "version", "started_at", "duration",
                               "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75",
                               "stats_number", "stats_repeat", "samples", "profile"],
            "results": results_, "durations": {}, "version": version}
    # asv writes bare NaN for skipped benchmarks, as Python's json does by default.
    path.write_text(json.dumps(data))
    return path


def test_params_failures_skips_and_missing_samples(tmp_path):
    asv = tmp_path / "asv"
    (asv / "box").mkdir(parents=True)
    (asv / "benchmarks.json").write_text(json.dumps({
        "m.T.time_p": {"type": "time", "unit": "seconds", "params": [["1", "2"], ["'a'"]],
                       "param_names": ["n", "s"], "version": "v1"},
        "m.track_x": {"type": "track", "unit": "things", "params": [], "param_names": [],
                      "version": "v2"},
        "version": 2}))
    (asv / "box" / "machine.json").write_text(json.dumps(
        {"machine": "box", "arch": "x86_64", "cpu": "Fancy CPU", "num_cpu": "8",
         "os": "Linux 6.1", "ram": "16318948", "version": 1}))
    sha = "ab" * 20
    _asv_file(asv / "box", sha, {
        "m.T.time_p": [[None, float("nan")], [["1", "2"], ["'a'"]], "v1"],
        "m.track_x": [[42.0], [], "v2", None, None, None, None, None, None, [1], [1]],
    })
    _asv_file(asv / "box", "cd" * 20, {}, version=1)
    (asv / "box" / "ef012345-broken.json").write_text("{not json")
    report = import_asv(asv, tmp_path / "out")
    assert len(report.imported) == 1 and len(report.skipped) == 2
    assert any("ef012345-broken.json: not valid JSON" in s for s in report.skipped)
    assert any("format version 2" in s for s in report.skipped)
    run = results.load(report.imported[0])
    by = {(r.name, tuple(r.params.values())): r for r in run.results}
    assert by[("m.T.time_p", ("1", "'a'"))].status == "failed"
    assert by[("m.T.time_p", ("2", "'a'"))].status == "skipped"
    track = by[("m.track_x", ())]
    assert track.samples == [42.0] and track.unit == "things"
    assert track.extra["asv_samples"] is False
    record = json.loads((tmp_path / "out" / "box" / "machine.json").read_text())
    assert record["cpu"] == "Fancy CPU" and record["cores"] == 8
    assert record["ram_bytes"] == 16318948 * 1024


def test_cli_import(django_slice, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "histbench", "import-asv", str(django_slice),
                           "--results-dir", str(tmp_path / "r")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "imported 12 result files for ubuntu-latest" in proc.stderr


def test_imported_samples_are_compared_process_by_process(django_slice, tmp_path):
    """asv pools its rounds' samples: they come back as that many groups (asv's own order)
    and a comparison of imported results tests per-process medians, never the pooled
    samples as if independent; `show` says where they came from."""
    from histbench.analysis.run_diff import compare_runs

    import_asv(django_slice, tmp_path)
    runs = results.load_machine_results(tmp_path, "ubuntu-latest")
    meta = json.loads((django_slice / "benchmarks.json").read_text())
    for r in runs[0].results:
        if r.status == "ok" and r.extra.get("asv_samples"):
            rounds = meta[r.name].get("rounds", 2)
            assert len(r.process_samples) == min(rounds, len(r.samples))
            assert [v for g in r.process_samples for v in g] == r.samples  # order kept
            assert r.imported
    rows = [row for row in compare_runs(runs[0], runs[1]) if row.comparison]
    assert rows and all(row.comparison.level == "processes" for row in rows)
    assert all(row.comparison.n_a <= 2 for row in rows if len(row.a.process_samples) <= 2)
    (tmp_path / "histbench.json").write_text(json.dumps({"project": "django",
                                                         "results_dir": str(tmp_path)}))
    proc = subprocess.run([sys.executable, "-m", "histbench", "show", runs[0].commit.hash],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "imported from asv" in proc.stdout.splitlines()[0]
