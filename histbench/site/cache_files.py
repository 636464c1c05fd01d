"""The site's caches on disk, signed so that loading one can never run code.

The caches live in the html folder, which is often a shared or deployed checkout
(gh-pages): anyone who can write there could plant a pickle that runs code when
unpickled. Each cache file therefore carries an HMAC of its bytes under a key that
never leaves this machine's user cache folder; a file without a valid signature (planted,
damaged, or written on another machine) is ignored, and the publish rebuilds it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
from pathlib import Path

from histbench.core.files import write_atomic

MAGIC = b"HBCACHE1"
KEY_BYTES = 32


def key_path() -> Path:
    """Where this user's signing key lives: outside every html folder (``HISTBENCH_CACHE_KEY``
    names another file, for a CI job that keeps its caches between runs)."""
    if os.environ.get("HISTBENCH_CACHE_KEY"):
        return Path(os.environ["HISTBENCH_CACHE_KEY"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "histbench" / "site-cache.key"


def _key() -> bytes | None:
    """This user's key, made on first use; None when it cannot be kept (a read-only home),
    in which case nothing is cached rather than anything trusted."""
    path = key_path()
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another publish, or of the wrong size
        try:
            key = path.read_bytes()
        except OSError:
            return None
        return key if len(key) == KEY_BYTES else None
    except OSError:
        return None
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _signature(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def write_cache(path: Path, version: str | int, entries: dict) -> None:
    """A cache file written whole or not at all, signed with this user's key."""
    key = _key()
    if key is None:
        return
    payload = pickle.dumps({"version": version, "entries": entries},
                           protocol=pickle.HIGHEST_PROTOCOL)
    write_atomic(path, MAGIC + _signature(key, payload) + payload)


def read_cache(path: Path, version: str | int) -> dict:
    """The entries of a cache file ``write_cache`` wrote on this machine with this
    ``version``; none when it is missing, unsigned, tampered with, unreadable or of another
    version (a cache is never an error). Nothing is unpickled before the signature holds."""
    key = _key()
    try:
        blob = path.read_bytes()
    except OSError:
        return {}
    head = len(MAGIC) + hashlib.sha256().digest_size
    if key is None or len(blob) < head or not blob.startswith(MAGIC):
        return {}
    if not hmac.compare_digest(blob[len(MAGIC):head], _signature(key, blob[head:])):
        return {}
    try:
        data = pickle.loads(blob[head:])
        if data.get("version") == version:
            return data["entries"]
    except (pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError,
            ValueError, ImportError):
        pass
    return {}
