"""A minimal W3C WebDriver client for headless Chromium: chromedriver over HTTP with urllib.

Just what the site's browser tests need (navigate, run JS, console logs, click, type,
screenshots), so that the tests need no Selenium.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of a web element reference


class WebDriverError(Exception):
    """An error answered by chromedriver, e.g. ``no such alert`` or ``javascript error``."""

    def __init__(self, error: str, message: str):
        super().__init__(f"{error}: {message}")
        self.error = error


def find_browser() -> tuple[str | None, str | None]:
    """Paths of (chromium, chromedriver), None for those not installed.

    HISTBENCH_CHROMIUM and HISTBENCH_CHROMEDRIVER name other executables."""
    names = os.environ.get("HISTBENCH_CHROMIUM", "chromium chromium-browser google-chrome")
    chromium = next(filter(None, map(shutil.which, names.split())), None)
    return chromium, shutil.which(os.environ.get("HISTBENCH_CHROMEDRIVER", "chromedriver"))


STARTED = re.compile(r"started successfully on port (\d+)")


class Browser:
    """One headless Chromium session; ``close()`` quits it and stops chromedriver."""

    def __init__(self, chromium: str, chromedriver: str, profile: Path, timeout: float = 60):
        self.session, self.base = "", ""
        # chromedriver picks a free port itself (--port=0) and names it on stdout: choosing
        # one here and passing it on would race with any other process binding ports.
        self.log = profile.parent / f"{profile.name}-chromedriver.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([chromedriver, "--port=0"], stdout=out,
                                         stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            port = None
            while port is None or not self._ready():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromedriver did not start: {self.log.read_text()}")
                if port is None:
                    found = STARTED.search(self.log.read_text(errors="replace"))
                    if found:
                        port = int(found.group(1))
                        self.base = f"http://127.0.0.1:{port}"
                        continue
                time.sleep(0.05)
            args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900", f"--user-data-dir={profile}"]
            caps = {"browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                    "goog:loggingPrefs": {"browser": "ALL"}}
            self.session = self._call("POST", "/session",
                                      {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/status", timeout=1) as r:
                return bool(json.load(r)["value"].get("ready"))
        except (OSError, ValueError, KeyError):
            return False

    def _call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            # Generous: on a loaded 2-core machine starting Chromium alone can take seconds.
            with urllib.request.urlopen(request, timeout=180) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            try:
                value = json.load(e)["value"]
            except (ValueError, KeyError, TypeError):
                value = {}
            raise WebDriverError(value.get("error", f"HTTP {e.code}"),
                                 value.get("message", "")) from None

    def _s(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def resize(self, width: int, height: int) -> None:
        self._s("POST", "/window/rect", {"width": width, "height": height})

    def execute(self, script: str, *args):
        """Run ``script`` as a function body (``return ...``) with ``arguments``."""
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def logs(self) -> list[dict]:
        """Browser console entries since the last call ({level, message, source, ...})."""
        return self._s("POST", "/se/log", {"type": "browser"})

    def find(self, css: str) -> dict:
        """A reference to the first element matching ``css``; usable as an ``execute`` arg."""
        return self._s("POST", "/element", {"using": "css selector", "value": css})

    def click(self, element: dict) -> None:
        self._s("POST", f"/element/{element[ELEMENT]}/click")

    def type(self, element: dict, text: str) -> None:
        self._s("POST", f"/element/{element[ELEMENT]}/value", {"text": text})

    def take_alert(self) -> str | None:
        """The text of an open alert/confirm/prompt, which is dismissed; None if none is open."""
        try:
            text = self._s("GET", "/alert/text")
        except WebDriverError as e:
            if e.error == "no such alert":
                return None
            raise
        self._s("POST", "/alert/dismiss")
        return text

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}")
        except (OSError, WebDriverError):
            pass
        finally:
            self.session = ""
            self.proc.kill()
            self.proc.wait(timeout=10)


def open_browser(profile: Path) -> Browser:
    """The browser tests' session: skipped with HISTBENCH_NO_BROWSER=1, a failure naming
    what to install when Chromium or chromedriver is missing (pytest is imported here,
    not at the top: the client itself needs none of it)."""
    import pytest

    if os.environ.get("HISTBENCH_NO_BROWSER") == "1":
        pytest.skip("HISTBENCH_NO_BROWSER=1")
    chromium, chromedriver = find_browser()
    if not chromium or not chromedriver:
        pytest.fail("the site's browser tests need Chromium and chromedriver "
                    f"(found chromium={chromium}, chromedriver={chromedriver}): install the "
                    "Debian packages chromium and chromium-driver (.ci/run does), or set "
                    "HISTBENCH_NO_BROWSER=1 to skip these tests", pytrace=False)
    return Browser(chromium, chromedriver, profile)
