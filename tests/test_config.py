"""histbench.json loading: every mistake is one line naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from histbench.cli.main import main
from histbench.core.config import find_config, load_config
from histbench.core.errors import HistbenchError

ROOT = Path(__file__).parent.parent


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "histbench.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_repo_config_loads():
    config = load_config(ROOT / "histbench.json")
    assert config.project == "histbench"
    assert config.benchmark_dir == ROOT / "benchmarks"
    assert config.results_dir == ROOT / "results"


def test_defaults_and_resolution(tmp_path):
    config = load_config(write(tmp_path, {"project": "p", "thresholds": {"^slow": 0.1}}))
    assert config.benchmark_dir == tmp_path / "benchmarks"
    assert config.default_timeout == 60.0
    assert config.environment_type == "virtualenv"
    assert config.threshold_for("slow.thing") == 0.1
    assert config.threshold_for("fast.thing") == 0.0


@pytest.mark.parametrize("data, key", [
    ({"project": "p", "benchmarkdir": "x"}, "benchmarkdir"),
    ({"project": 3}, "project"),
    ({"project": "p", "pythons": "3.11"}, "pythons"),
    ({"project": "p", "pythons": [3.11]}, "pythons"),
    ({"project": "p", "default_timeout": "60"}, "default_timeout"),
    ({"project": "p", "default_timeout": True}, "default_timeout"),
    ({"project": "p", "default_timeout": -1}, "default_timeout"),
    ({"project": "p", "default_timeout": float("nan")}, "default_timeout"),
    ({"project": "p", "default_timeout": float("inf")}, "default_timeout"),
    ({"project": "p", "watts_per_core": float("nan")}, "watts_per_core"),
    ({"project": "p", "env_dir": "histbench.json"}, "env_dir"),
    ({"project": "p", "results_dir": "histbench.json"}, "results_dir"),
    ({"project": "p", "html_dir": "histbench.json"}, "html_dir"),
    ({"project": "p", "benchmark_dir": "histbench.json"}, "benchmark_dir"),
    ({"project": "p", "thresholds": {"(": 0.1}}, "thresholds"),
    ({"project": "p", "thresholds": {"a": "x"}}, "thresholds"),
    ({"project": "p", "requirements": {"numpy": 1}}, "requirements"),
    ({"project": "p", "environment_type": "conda"}, "environment_type"),
    ({"repo": "."}, "project"),
])
def test_bad_keys_name_file_and_key(tmp_path, data, key):
    path = write(tmp_path, data)
    with pytest.raises(HistbenchError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and f"'{key}'" in message and "\n" not in message


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON (line 1"),
    ("[1, 2]", "must be a JSON object"),
])
def test_broken_files(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(HistbenchError, match=r"histbench\.json") as info:
        load_config(path)
    assert words in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(HistbenchError, match="config file not found"):
        load_config(tmp_path / "nope.json")


def test_find_config_walks_up(tmp_path):
    path = write(tmp_path, {"project": "p"})
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == path.resolve()


def test_cli_reports_config_error_in_one_line(tmp_path, capsys):
    path = write(tmp_path, {"project": "p", "bogus": 1})
    assert main(["--config", str(path), "dev"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'bogus'" in err and "Traceback" not in err


def test_every_key_is_documented():
    from histbench.core.config import _SCHEMA

    doc = (ROOT / "docs" / "config.md").read_text()
    missing = [key for key in _SCHEMA if f"`{key}`" not in doc]
    assert not missing
