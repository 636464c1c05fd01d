"""Results and html on a folder histbench cannot write: one line naming it, no traceback,
nothing measured lost. As root, permissions do not stop a write, so the folder is made a
read-only bind mount in a mount namespace of the command's own (``unshare -m``): a real
read-only file system, gone with the command, nothing to undo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from toyrepo import ToyCommit

ROOT = os.geteuid() == 0


def _can_remount() -> bool:
    if not ROOT or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / / 2>/dev/null"
                            " || mount --bind -o ro /tmp /tmp"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(ROOT and not _can_remount(),
                                reason="root, without a mount namespace to make a folder "
                                "read-only in")


def _read_only(folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``histbench ARGS`` with ``folder`` read-only for it alone."""
    cmd = [sys.executable, "-m", "histbench", *args]
    if ROOT:
        script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, str(folder), *cmd]
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    folder.chmod(0o555)
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    finally:
        folder.chmod(0o755)


def _one_line(proc: subprocess.CompletedProcess, names: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("histbench: error")]
    assert len(errors) == 1 and names in errors[0], proc.stderr


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".histbench")}


@pytest.fixture
def measured(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    proc = subprocess.run([sys.executable, "-m", "histbench", "run", "main", "--machine", "m"],
                          cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return repo


@pytest.mark.parametrize("args", [
    ("run", "main", "--machine", "m"),  # measures again, then cannot save
    ("run", "main", "--machine", "m", "--skip-existing"),  # nothing to measure
    ("machine", "--machine", "m"),
    ("machine", "--machine", "other"),
    ("dev", "--save", "--machine", "m", "--rounds", "1"),
])
def test_commands_that_write_results_on_a_read_only_results_folder(measured, args):
    results = measured / "results"
    before = _snapshot(results)
    proc = _read_only(results, *args, cwd=measured)
    _one_line(proc, "results")
    assert _snapshot(results) == before  # nothing measured lost, nothing half-written


def test_publish_into_a_read_only_html_folder(measured):
    html = measured / "html"
    html.mkdir()
    _one_line(_read_only(html, "publish", cwd=measured), "html")
    first = subprocess.run([sys.executable, "-m", "histbench", "publish"], cwd=measured,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    pages = _snapshot(html)
    (measured / "results" / "m" / "extra.txt").write_text("")  # nothing to do with pages
    _one_line(_read_only(html, "publish", "--html-dir", str(html), cwd=measured), "html")
    assert _snapshot(html) == pages


def test_import_asv_into_a_read_only_results_folder(measured, tmp_path):
    source = tmp_path / "asv-results"
    (source / "box").mkdir(parents=True)
    (source / "benchmarks.json").write_text(json.dumps({"version": 2}))
    (source / "box" / "machine.json").write_text(json.dumps({"machine": "box",
                                                             "version": 1}))
    results = measured / "results"
    before = _snapshot(results)
    proc = _read_only(results, "import-asv", str(source), cwd=measured)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert _snapshot(results) == before
