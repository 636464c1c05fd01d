"""Shared fixtures: real git histories of a small package, and one environment folder for
the whole session so that virtualenv creation is paid once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

from toyrepo import ToyCommit, make_repo  # noqa: E402


def shared_django_results() -> Path:
    """The real asv history in ../shared (beside the clone, as CI lays it out); a checkout
    elsewhere can point HISTBENCH_SHARED at the shared folder."""
    import os

    candidates = [Path(os.environ["HISTBENCH_SHARED"])] if "HISTBENCH_SHARED" in os.environ \
        else []
    candidates += [Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")]
    for root in candidates:
        path = root / "data" / "asv-results-django" / "results"
        if path.is_dir():
            return path
    pytest.fail("shared/data/asv-results-django not found beside the clone "
                "(set HISTBENCH_SHARED to the shared folder)")


# Fast, deterministic sampling for tests: one process, a few samples, no warmup.
FAST_ATTRS = {"rounds": 1, "repeat": 5, "warmup_time": 0.02}


@pytest.fixture(scope="session")
def shared_env_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture
def toy_repo(tmp_path, shared_env_dir):
    """Factory: make_repo with the session's env folder and fast sampling."""

    def make(commits: list[ToyCommit], **config) -> tuple[Path, list[str]]:
        repo = tmp_path / "repo"
        hashes = make_repo(repo, commits, bench_attrs=FAST_ATTRS,
                           config={"env_dir": str(shared_env_dir), **config})
        return repo, hashes

    return make


__all__ = ["ToyCommit"]
