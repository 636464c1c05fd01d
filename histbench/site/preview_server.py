"""The local preview server behind ``histbench preview``: the published site, and nothing else.

The html folder is often a deployed checkout that others can write to, and it holds files
that are not part of the site (the signed caches under ``.histbench-cache/``, the manifest).
So a request is served only when it names a regular file whose real path, after every
symlink, lies inside the real html folder and has no component starting with ".". Folders
are never listed. Any malformed or hostile path gets a 4xx answer, not an exception, so
the server keeps answering.
"""

from __future__ import annotations

import functools
import http.server
import os
import stat
import sys
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from histbench.core.errors import HistbenchError

HOST = "127.0.0.1"  # a preview is for this machine only; never listen on other interfaces
INDEX = "index.html"
_FORBIDDEN_CHARS = ("/", "\\", "\0")


def request_segments(url_path: str) -> list[str] | None:
    """The decoded segments of a request path, or None unless it is a plain relative path.

    Each segment is checked after percent-decoding, so ``%2e%2e`` and ``%2f`` are refused
    like ``..`` and ``/``; an empty segment (``//etc``) is refused too, since joining it
    would not stay under the site root in every path library."""
    path = url_path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None  # absolute-form URLs and anything else that is not an origin path
    raw_segments = path[1:].split("/")
    if raw_segments[-1] == "":
        raw_segments.pop()  # the trailing slash of a folder, or the root itself
    segments = []
    for raw in raw_segments:
        try:
            segment = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if not is_plain_name(segment):
            return None
        segments.append(segment)
    return segments


def is_plain_name(segment: str) -> bool:
    """A file or folder name that may be served: not empty, not hidden (which covers ``.``,
    ``..`` and the cache), and holding no separator or NUL that could change its meaning."""
    return (bool(segment) and not segment.startswith(".")
            and not any(char in segment for char in _FORBIDDEN_CHARS))


def contained(root: Path, segments: list[str]) -> Path | None:
    """The real path the segments name under ``root`` (itself a real path), or None when it
    does not exist, or a symlink leads it outside the root or into a hidden file."""
    try:
        real = root.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a bad name
        return None
    if not real.is_relative_to(root):
        return None
    if not all(is_plain_name(part) for part in real.relative_to(root).parts):
        return None
    return real


def is_regular_file(path: Path) -> bool:
    """Only regular files are served: a FIFO or device inside the folder would hang or leak."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


class PreviewHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler with every path decision replaced by the checks above.

    GET and HEAD both go through ``send_head``, so HEAD answers exactly as GET would."""

    @property
    def root(self) -> Path:
        return Path(self.directory)  # made real by make_server

    def translate_path(self, path: str) -> str:
        """The real path of the file a URL names, or "" (which opens nothing) when refused.

        Kept consistent with ``send_head`` for any code of the base class that calls it."""
        segments = request_segments(path)
        found = None if segments is None else contained(self.root, segments)
        return str(found) if found is not None else ""

    def send_head(self) -> BinaryIO | None:
        """Answer with headers for a servable file (a folder means its index.html), or 404."""
        segments = request_segments(self.path)
        target = None if segments is None else contained(self.root, segments)
        slash = self.path.split("?", 1)[0].split("#", 1)[0].endswith("/")
        folder = target is not None and target.is_dir()
        if folder:
            target = contained(self.root, [*segments, INDEX])
        elif slash:
            target = None  # "page.html/" names no folder (and would break relative links)
        if target is None or not is_regular_file(target):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if folder and not slash:
            return self._redirect_to_folder()
        return self._send_file(target)

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        """Folders are never listed: their file names are not part of the site."""
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")
        return None

    def _redirect_to_folder(self) -> None:
        """Send ``/sub`` to ``/sub/`` so the relative links of sub/index.html resolve.

        The path was validated (no empty segment), so the Location cannot be ``//host``."""
        parts = urllib.parse.urlsplit(self.path)
        location = urllib.parse.urlunsplit(("", "", parts.path + "/", parts.query, ""))
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _send_file(self, target: Path) -> BinaryIO | None:
        """Open the file and send its headers; the base class copies the body for GET."""
        try:
            handle = open(target, "rb")  # closed by the base class once copied
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", self.guess_type(str(target)))
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-cache")  # a preview shows the latest publish
            self.end_headers()
        except BaseException:
            handle.close()
            raise
        return handle


class PreviewServer(http.server.ThreadingHTTPServer):
    """A threading server that stays quiet when a browser drops a connection mid-answer."""

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_server(html_dir: Path, port: int) -> PreviewServer:
    """A server for ``html_dir`` bound to 127.0.0.1:port (0: any free port).

    A port that is taken or not allowed becomes a one-line HistbenchError naming it."""
    root = html_dir.resolve()
    handler = functools.partial(PreviewHandler, directory=str(root))
    try:
        return PreviewServer((HOST, port), handler)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise HistbenchError(f"port {port}: cannot listen on {HOST}:{port} ({reason})") from None
    except OverflowError:
        raise HistbenchError(f"port {port}: not a port number (0 to 65535)") from None
