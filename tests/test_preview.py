"""`histbench preview` serves the site and nothing else: real servers on free ports, real HTTP.

The html folder may be a deployed checkout others can write to, and it holds the caches and
the manifest; so symlinks out of it, hidden files, folder listings and hostile paths must
all be refused with a 4xx, and the server must keep answering afterwards.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from histbench.core.errors import HistbenchError
from histbench.site.preview_server import make_server

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60  # generous: only a hung server waits this long

HOSTILE_PATHS = [
    "/%00", "/index.html%00", "/%00/index.html",
    "/..%2f..%2fetc/passwd", "/%2e%2e/", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/../../etc/passwd",
    "/sub/../../outside.txt", "/%2E%2E/outside.txt", "/.%2e/outside.txt",
    "//etc/passwd", "///etc/passwd", "/a\\..\\b", "/..\\outside.txt", "/%5c..%5coutside.txt",
    "/etc/passwd", "/%ff%fe", "/%", "/%zz", "http://127.0.0.1/etc/passwd", "*",
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A published-looking site beside a secret outside it, with the hazards of the issue."""
    html = tmp_path / "html"
    (html / "sub").mkdir(parents=True)
    (html / "bare").mkdir()
    (html / ".histbench-cache").mkdir()
    (html / "index.html").write_text("<p>home</p>")
    (html / "page.html").write_text("<p>page</p>")
    (html / "sub" / "index.html").write_text("<p>sub home</p>")
    (html / "bare" / "listed-name.html").write_text("<p>bare</p>")
    (html / ".histbench-cache" / "x").write_text("cache")
    (html / ".histbench-manifest.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (tmp_path / "outside.txt").write_text("secret")
    (html / "to-secret.html").symlink_to(outside / "secret.txt")
    (html / "to-outside-dir").symlink_to(outside, target_is_directory=True)
    (html / "to-page.html").symlink_to(html / "page.html")
    (html / "to-sub").symlink_to("sub", target_is_directory=True)
    (html / "to-cache.html").symlink_to(html / ".histbench-cache" / "x")
    (html / "loop").symlink_to(html / "loop")
    os.mkfifo(html / "fifo.html")
    return html


@pytest.fixture
def server(site: Path) -> Iterator[int]:
    """A real preview server for the site on a free port, stopped after the test."""
    with make_server(site, 0) as srv:
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        yield srv.server_address[1]
        srv.shutdown()
        thread.join(TIMEOUT)


def request(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request sent as-is (http.client does not normalise the path), on a new
    connection so that a refused request cannot poison the next one."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_regular_page_and_root(server: int) -> None:
    assert request(server, "/page.html")[::2] == (200, b"<p>page</p>")
    assert request(server, "/")[::2] == (200, b"<p>home</p>")
    status, headers, body = request(server, "/page.html?v=1#top")
    assert (status, body) == (200, b"<p>page</p>")
    assert headers["Content-Type"].startswith("text/html")


def test_head_answers_like_get_without_a_body(server: int) -> None:
    status, headers, body = request(server, "/page.html", "HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(b"<p>page</p>"))
    assert request(server, "/.histbench-manifest.json", "HEAD")[0] == 404
    assert request(server, "/bare/", "HEAD")[0] == 404


def test_folder_serves_its_index_or_404_never_a_listing(server: int) -> None:
    assert request(server, "/sub/")[::2] == (200, b"<p>sub home</p>")
    status, headers, _ = request(server, "/sub?x=1")
    assert (status, headers["Location"]) == (301, "/sub/?x=1")
    for path in ("/bare/", "/bare", "/to-outside-dir/", "/.histbench-cache/"):
        status, _, body = request(server, path)
        assert status == 404, path
        assert b"listed-name" not in body and b"secret" not in body


def test_symlinks_are_served_only_inside_the_folder(server: int) -> None:
    assert request(server, "/to-page.html")[::2] == (200, b"<p>page</p>")
    assert request(server, "/to-sub/")[::2] == (200, b"<p>sub home</p>")
    for path in ("/to-secret.html", "/to-outside-dir/secret.txt", "/to-cache.html", "/loop"):
        status, _, body = request(server, path)
        assert status == 404, path
        assert b"secret" not in body and b"cache" not in body


def test_hidden_files_and_the_cache_are_not_served(server: int) -> None:
    for path in ("/.histbench-cache/x", "/.histbench-manifest.json", "/%2ehistbench-manifest.json",
                 "/sub/../.histbench-manifest.json", "/./page.html", "/.histbench-cache"):
        assert request(server, path)[0] == 404, path


def test_special_files_are_refused_without_hanging(server: int) -> None:
    assert request(server, "/fifo.html")[0] == 404
    assert request(server, "/missing.html")[0] == 404
    assert request(server, "/page.html/")[0] == 404
    assert request(server, "/" + "a" * 5000)[0] == 404


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_get_4xx_and_the_server_goes_on(server: int, path: str,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    status, _, body = request(server, path)
    assert 400 <= status < 500, (path, status)
    assert b"secret" not in body and b"root:" not in body
    assert request(server, "/page.html")[::2] == (200, b"<p>page</p>")
    assert "Traceback" not in capfd.readouterr().err


def test_make_server_refuses_a_taken_port_in_one_line(site: Path) -> None:
    with listening_socket() as taken, pytest.raises(HistbenchError) as raised:
        make_server(site, taken)
    assert str(taken) in str(raised.value) and "\n" not in str(raised.value)


class listening_socket:
    """A port held by another listener for the duration of a with block."""

    def __enter__(self) -> int:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def project(tmp_path: Path) -> Path:
    """A folder with a histbench.json and a published html folder, for the real command."""
    (tmp_path / "histbench.json").write_text(json.dumps({"project": "x"}))
    (tmp_path / "html").mkdir(exist_ok=True)
    (tmp_path / "html" / "index.html").write_text("<p>home</p>")
    return tmp_path


def histbench_env() -> dict[str, str]:
    """This tree first on the path, whatever editable install the environment has."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def run_preview(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "histbench", "preview", *args], cwd=folder,
                          env=histbench_env(), capture_output=True, text=True, timeout=TIMEOUT)


def test_cli_port_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    folder = project(tmp_path)
    with listening_socket() as taken:
        result = run_preview(folder, "--port", str(taken))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("histbench: error:"), result.stderr
    assert str(taken) in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["70000", "-1", "http", "1.5"])
def test_cli_invalid_port_is_refused_without_traceback(tmp_path: Path, port: str) -> None:
    result = run_preview(project(tmp_path), "--port", port)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert port in result.stderr


def test_cli_privileged_port_is_one_line(tmp_path: Path) -> None:
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 1))
        pytest.skip("this user may listen on port 1 (root or unprivileged ports allowed)")
    except PermissionError:
        pass
    finally:
        probe.close()
    result = run_preview(project(tmp_path), "--port", "1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "port 1" in result.stderr and "Traceback" not in result.stderr


def test_cli_serves_the_site_on_localhost(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "html" / ".histbench-manifest.json").write_text("{}")
    process = subprocess.Popen([sys.executable, "-m", "histbench", "preview", "--port", "0"],
                               cwd=folder, env=histbench_env(), stderr=subprocess.PIPE, text=True)
    try:
        line = first_line(process)
        assert "http://127.0.0.1:" in line, line
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        assert request(port, "/")[::2] == (200, b"<p>home</p>")
        assert request(port, "/.histbench-manifest.json")[0] == 404
        assert request(port, "/%00")[0] == 404
        assert request(port, "/")[0] == 200
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        if process.stderr:
            process.stderr.close()


def first_line(process: subprocess.Popen[str]) -> str:
    """The server's first stderr line, waited for (no fixed sleep) up to TIMEOUT."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stderr.readline()),
                              daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    assert lines and lines[0], f"the server printed nothing (exit {process.poll()})"
    return lines[0]
