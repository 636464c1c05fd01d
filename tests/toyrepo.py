"""A small pure-Python project with a git history, for tests and side-by-side benchmarks.

Each commit is described by how slow its one function is and whether it builds, so that a
test or a benchmark script knows exactly which answer histbench must find.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "toypkg"


@dataclass
class ToyCommit:
    work: int = 20_000        # loop iterations of toypkg.compute(): its cost is proportional
    builds: bool = True       # False writes a pyproject.toml that no build backend accepts
    subject: str = ""


def _pyproject(builds: bool) -> str:
    if not builds:
        return "[build-system\nthis is not toml\n"
    return textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{PACKAGE}"
        version = "0.1.0"

        [tool.setuptools]
        packages = ["{PACKAGE}"]
        """)


def _module(work: int) -> str:
    return textwrap.dedent(f"""\
        WORK = {work}


        def compute(n=WORK):
            total = 0
            for i in range(n):
                total += i % 7
            return total
        """)


BENCHMARKS = textwrap.dedent(f"""\
    import {PACKAGE}


    def time_compute():
        {PACKAGE}.compute()


    def track_work():
        return {PACKAGE}.WORK
    """)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, commits: list[ToyCommit], *, config: dict | None = None,
              asv: bool = False, bench_attrs: dict | None = None) -> list[str]:
    """Create the repo with one commit per entry; returns the hashes, oldest first.

    ``bench_attrs`` become module-level attributes of the benchmark file (``rounds``,
    ``repeat``, ``number``, ...), which asv and histbench both honour: the way to give the
    two tools the same sample counts.
    """
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "toy@example.com")
    git(path, "config", "user.name", "Toy Author")
    (path / PACKAGE).mkdir(exist_ok=True)
    (path / "benchmarks").mkdir(exist_ok=True)
    (path / "benchmarks" / "__init__.py").write_text("")
    attrs = "".join(f"{k} = {v!r}\n" for k, v in (bench_attrs or {}).items())
    (path / "benchmarks" / "bench_toy.py").write_text(BENCHMARKS + ("\n" + attrs if attrs else ""))
    settings = {"project": PACKAGE, "branches": ["main"], "env_dir": ".histbench",
                **(config or {})}
    (path / "histbench.json").write_text(json.dumps(settings, indent=2))
    (path / ".gitignore").write_text(".histbench/\nresults/\nhtml/\n.asv/\n")
    if asv:
        (path / "asv.conf.json").write_text(json.dumps({
            "version": 1, "project": PACKAGE, "repo": ".", "branches": ["main"],
            "environment_type": "virtualenv", "benchmark_dir": "benchmarks",
            "env_dir": ".asv/env", "results_dir": ".asv/results", "html_dir": ".asv/html",
        }, indent=2))
    hashes = []
    for i, commit in enumerate(commits):
        (path / "pyproject.toml").write_text(_pyproject(commit.builds))
        (path / PACKAGE / "__init__.py").write_text(_module(commit.work))
        git(path, "add", "-A")
        subject = commit.subject or f"commit {i}: work={commit.work}"
        date = f"2026-01-{i % 28 + 1:02d}T12:{i // 28 % 60:02d}:00"
        git(path, "commit", "-q", "--allow-empty", "-m", subject, "--date", date)
        hashes.append(git(path, "rev-parse", "HEAD"))
    return hashes
