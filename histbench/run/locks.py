"""Advisory file locks (``fcntl.flock``) for what several runs may share: an ``env_dir``
holds environments, a wheel cache and a build clone that two runs with different
``results_dir`` use at once. A lock dies with its process, so a killed run never leaves one
behind; what it leaves half-made is detected by its owner's completion marker instead.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUCKETS = 64  # per-commit locks share this many files: bounded, and never deleted


def lock_dir(env_dir: Path) -> Path:
    return Path(env_dir) / "locks"


def bucket_lock_path(env_dir: Path, key: str) -> Path:
    """A lock file for one of many keys (commits): a fixed set of files, since deleting a
    lock file that another process may have open is a race; two keys sharing a file only
    wait for each other."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % BUCKETS
    return lock_dir(env_dir) / f"commit-{bucket:02d}.lock"


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def try_exclusive(path: Path) -> Iterator[bool]:
    """Take the lock only if it is free; yields whether it was taken. For work that may be
    skipped (evicting a cached build), so that it never waits, nor deadlocks, on a run
    (or this process) that holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
