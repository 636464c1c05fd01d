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

_held: dict[str, int] = {}  # exclusive locks this process holds: path -> depth


def lock_dir(env_dir: Path) -> Path:
    return Path(env_dir) / "locks"


def bucket_lock_path(env_dir: Path, key: str, kind: str = "commit") -> Path:
    """A lock file for one of many keys (commits): a fixed set of files, since deleting a
    lock file that another process may have open is a race; two keys sharing a file only
    wait for each other. ``kind`` keeps separate sets for separate purposes."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % BUCKETS
    return lock_dir(env_dir) / f"{kind}-{bucket:02d}.lock"


def in_use_lock_path(env_dir: Path, key: str) -> Path:
    """Held shared by each run while it measures with a commit's install, for its whole
    run: eviction must not delete what another run (or an interleaved round) still uses."""
    return bucket_lock_path(env_dir, key, "inuse")


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting for it. Reentrant
    in a process: flock would make a second hold on another descriptor wait for the
    first, which is this very process."""
    key = str(Path(path).resolve())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def shared(path: Path) -> Iterator[None]:
    """Hold a shared lock on ``path``: many holders at once, none while it is exclusive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
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
