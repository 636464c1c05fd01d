"""The site's caches cannot run code: a file in html/.histbench-cache/ is unpickled only
when it carries this user's signature, so a planted, damaged or foreign one is ignored."""

from __future__ import annotations

import os
import pickle

import pytest

from histbench.site.cache_files import MAGIC, key_path, read_cache, write_cache


class Planted:
    """What an attacker pickles: loading it would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_round_trip_and_versions(tmp_path):
    path = tmp_path / "c.pickle"
    write_cache(path, 3, {"a": [1.0, 2.0]})
    assert read_cache(path, 3) == {"a": [1.0, 2.0]}
    assert read_cache(path, 4) == {}
    assert read_cache(tmp_path / "missing.pickle", 3) == {}
    assert os.stat(key_path()).st_mode & 0o077 == 0  # the key is the user's alone


@pytest.mark.parametrize("forge", ["bare pickle", "magic, no signature", "bad signature",
                                   "signed payload swapped", "truncated"])
def test_nothing_unsigned_is_unpickled(tmp_path, forge):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"version": 1, "entries": {"x": Planted(marker)}})
    path = tmp_path / "results.pickle"
    write_cache(path, 1, {"x": 1})
    signed = path.read_bytes()
    head = len(MAGIC) + 32
    blob = {
        "bare pickle": evil,
        "magic, no signature": MAGIC + evil,
        "bad signature": MAGIC + bytes(32) + evil,
        "signed payload swapped": signed[:head] + evil,
        "truncated": signed[: head - 5],
    }[forge]
    path.write_bytes(blob)
    assert read_cache(path, 1) == {}
    assert not marker.exists()


def test_a_cache_signed_with_another_key_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "steps.pickle"
    write_cache(path, 1, {"k": 2})
    monkeypatch.setenv("HISTBENCH_CACHE_KEY", str(tmp_path / "other.key"))
    assert read_cache(path, 1) == {}  # another machine's (or user's) cache: rebuilt


def test_no_key_means_no_cache_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("HISTBENCH_CACHE_KEY", str(blocker / "cannot" / "be.key"))
    path = tmp_path / "c.pickle"
    write_cache(path, 1, {"k": 2})
    assert not path.exists() and read_cache(path, 1) == {}
