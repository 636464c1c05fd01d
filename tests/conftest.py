"""Shared fixtures: real git histories of a small package, and one environment folder for
the whole session so that virtualenv creation is paid once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from toyrepo import ToyCommit, make_repo


def shared_django_results() -> Path:
    """The real asv history in ../shared (beside the clone, as CI lays it out); a checkout
    elsewhere can point HISTBENCH_SHARED at the shared folder."""
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


# Property tests run the same examples on every run (derandomize: seeded from each test's
# source, no example database), so CI cannot fail by drawing a new example; and no check
# of theirs depends on wall time (no deadline, no "too slow" health check), since a loaded
# machine runs everything up to 2x slower. HYPOTHESIS_PROFILE=random explores new examples
# (run it by hand when changing what a property test covers).
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("random", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


NOISE_PROBE = """
import time
def busy(n=100_000):
    x = 0
    for i in range(n):
        x += i * i
busy()
times = []
for _ in range(7):
    t0 = time.perf_counter(); busy(); times.append(time.perf_counter() - t0)
print(sorted(times)[3])
"""


def machine_spread(processes: int = 6) -> float:
    """Slowest over fastest of the median loop time of several fresh processes: 1.0 on a
    quiet machine; above ~1.1 the machine itself varies more than the effects some
    acceptance tests must resolve (a 15% regression, 5% agreement)."""
    import subprocess

    medians = [float(subprocess.run([sys.executable, "-c", NOISE_PROBE], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(processes)]
    return max(medians) / min(medians)


def fail_unless_noisy(message: str, limit: float = 1.10) -> None:
    """Called when a timing assertion failed after its retries: a real failure on a quiet
    machine, a skip (saying how noisy) when the machine's own process-to-process spread is
    beyond what the test needs to resolve."""
    spread = machine_spread()
    if spread > limit:
        pytest.skip(f"machine too noisy to judge (process-to-process spread "
                    f"{100 * (spread - 1):.0f}% > {100 * (limit - 1):.0f}%): {message}")
    pytest.fail(f"{message} (machine spread {100 * (spread - 1):.0f}%)")


@pytest.fixture(scope="session", autouse=True)
def site_cache_key(tmp_path_factory):
    """The site caches' signing key for this session, so that tests never write into the
    user's own cache folder (subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("key") / "site-cache.key"
    os.environ["HISTBENCH_CACHE_KEY"] = str(path)
    yield path
