"""`histbench report` on the ML-variants example: the fair-comparison workflow end to end."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from histbench.store import results
from histbench.store.results import BenchmarkResult, CommitInfo, RunResults

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ml_variants"


def histbench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("example") / "ml_variants"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("results", "html", "*.md"))
    proc = histbench(folder, "dev", "--save", "--machine", "box", "--rounds", "2",
                     "--repeat", "3")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_markdown_report_shows_the_trade_off(example):
    proc = histbench(example, "report", "--baseline", "fp64", "--output", "report.md")
    assert proc.returncode == 0, proc.stderr
    text = (example / "report.md").read_text()
    assert "Baseline: `fp64`" in text and "1 (baseline)" in text
    for variant in ("fp32", "int8"):
        assert f"| {variant}" in text
    assert "★" in text  # the Pareto-optimal variants are marked
    assert re.search(r"\| (7\.9\d?|8(\.0\d?)?)x \|", text)  # int8 vs float64 weights
    assert "(estimated)" in text or " mJ" in text
    assert (example / "latency_0.svg").exists() and (example / "tradeoff_0.svg").exists()
    assert "## Reproducibility" in text and "numpy" in text and "histbench" in text


def test_json_report_flags(example):
    proc = histbench(example, "report", "--baseline", "fp64", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    [family] = data["families"]
    by_label = {v["label"]: v for v in family["variants"]}
    assert set(by_label) == {"fp64", "fp32", "int8"}
    fp32 = by_label["fp32"]["metrics"]
    assert fp32["speedup"]["value"] > 0 and "p_value" in fp32["speedup"]
    assert by_label["int8"]["metrics"]["compression"] == pytest.approx(8, rel=0.05)
    assert any(v["pareto"] for v in family["variants"])
    for v in family["variants"]:
        energy = v["energy"]
        assert energy is not None and v["energy_estimated"] == energy["estimated"]
        assert v["unfair"] is False


def test_html_report_is_one_page_with_plots(example):
    proc = histbench(example, "report", "--baseline", "fp64", "--format", "html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("<svg") == 2 and "Pareto" in proc.stdout
    if '"estimated": true' in histbench(example, "report", "--baseline", "fp64",
                                        "--format", "json").stdout:
        assert "(estimated)" in proc.stdout


def test_unknown_baseline_is_one_line(example):
    proc = histbench(example, "report", "--baseline", "fp16")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1


def _run(sha: str, python: str, samples: list[float], version: str = "v1") -> RunResults:
    result = BenchmarkResult(name="m.time_x", kind="time", version=version,
                             process_samples=[samples[:5], samples[5:]]).with_stats()
    return RunResults(machine="box", env_name="env", python=python,
                      commit=CommitInfo(hash=sha, date=1.7e9, subject=sha[:4]),
                      results=[result])


def test_commits_as_variants_warn_when_unfair(tmp_path):
    (tmp_path / "histbench.json").write_text(json.dumps({"project": "p"}))
    base = [1.0, 1.01, 0.99, 1.0, 1.02, 1.0, 0.98, 1.01, 1.0, 0.99]
    results.save(_run("a" * 40, "3.11", base), tmp_path / "results")
    results.save(_run("b" * 40, "3.12", [v / 2 for v in base], version="v2"),
                 tmp_path / "results")
    proc = histbench(tmp_path, "report", "--baseline", "a" * 8, "--commit", "b" * 8,
                     "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [family] = json.loads(proc.stdout)["families"]
    head = family["variants"][1]
    assert head["metrics"]["speedup"]["value"] == pytest.approx(2, rel=0.05)
    assert head["unfair"] is True
    warnings = " ".join(head["warnings"]).lower()
    assert "python" in warnings and "version" in warnings
