"""Files written whole or not at all: a run or publish killed half-way leaves the old file
(or none), never a truncated one that a later command would take for data."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from histbench.core.errors import HistbenchError


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed into place.

    ``durable`` also syncs the file to disk before the rename: for results, which cost
    minutes of measurement each, not for pages and caches that a publish remakes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); pages must stay readable by a web server
        # and results by a CI artifact step, as files written the usual way are.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


MAX_DOCUMENT = 256 * 2**20  # bytes: far above any result file, below a machine's memory


def read_document_bytes(path: Path, what: str) -> bytes:
    """A file's bytes, if it is a regular file of a sane size: ``/dev/zero`` would be read
    until memory runs out, and a FIFO would block every reader for ever."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise HistbenchError(f"{path}: {what} not found") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, no permission, ...
        raise HistbenchError(f"{path}: cannot read {what} "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise HistbenchError(f"{path}: cannot read {what} (a folder, not a file)")
    if not stat.S_ISREG(info.st_mode):
        raise HistbenchError(f"{path}: cannot read {what} (not a regular file)")
    if info.st_size > MAX_DOCUMENT:
        raise HistbenchError(f"{path}: not a {what} (over {MAX_DOCUMENT // 2**20} MiB)")
    try:
        with open(path, "rb") as f:
            return f.read(MAX_DOCUMENT + 1)
    except OSError as exc:
        raise HistbenchError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def read_json(path: Path, what: str) -> Any:
    """A JSON document a user may have edited or a crash may have cut short; every problem
    is one line that starts with the path and names ``what`` was expected there."""
    try:
        text = read_document_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise HistbenchError(f"{path}: not valid JSON (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistbenchError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise HistbenchError(f"{path}: not a {what} (nested too deeply)") from None


def read_state_json(path: Path, what: str, advice: str) -> Any | None:
    """A file histbench keeps between runs: None before the first run made it; damaged, a
    one-line error that ends with ``advice`` (what the user can do about it), because
    starting afresh silently would lose what it holds."""
    if not path.exists():
        return None
    try:
        return read_json(path, what)
    except HistbenchError as exc:
        raise HistbenchError(f"{exc}; {advice}") from None
