"""Loading and validating ``histbench.json`` (or, in a folder without one, ``asv.conf.json``
translated by ``asv_conf``).

A config mistake found an hour into a nightly run is expensive, so every key is checked up
front against a typed schema and the first problem is reported as one line naming the file
and the key.
"""

from __future__ import annotations

import math
import re
import shlex
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.core import asv_conf
from histbench.core.command_prefixes import PrefixError, split_prefixes
from histbench.core.errors import HistbenchError
from histbench.core.files import read_json
from histbench.core.modes import MODES
from histbench.core.patterns import compile_pattern

CONFIG_NAME = "histbench.json"
DEFAULT_TIMEOUT = 60.0  # seconds a parameter set may run before its worker is killed


@dataclass
class Config:
    """The validated configuration; paths are absolute, resolved against the config's folder."""

    path: Path
    project: str
    repo: str = "."
    branches: list[str] = field(default_factory=lambda: ["HEAD"])
    benchmark_dir: Path = Path("benchmarks")
    results_dir: Path = Path("results")
    html_dir: Path = Path("html")
    env_dir: Path = Path(".histbench")
    environment_type: str = "virtualenv"
    build_command: list[str] = field(default_factory=list)
    # with an uninstall_command, its commands come first here: run before every install
    install_command: list[str] = field(default_factory=list)
    uninstall_command: list[str] = field(default_factory=list)
    pythons: list[str] = field(default_factory=list)
    requirements: dict[str, str] = field(default_factory=dict)
    # asv's environment matrix: {"req"|"env"|"env_nobuild": {name: [values]}}, and its rules
    matrix: dict[str, dict[str, list[str | None]]] = field(default_factory=dict)
    exclude: list[dict[str, Any]] = field(default_factory=list)
    include: list[dict[str, Any]] = field(default_factory=list)
    show_commit_url: str = ""
    default_timeout: float = DEFAULT_TIMEOUT
    wheel_cache_size: int = 50
    reject_disturbed: bool = True
    thresholds: dict[str, float] = field(default_factory=dict)
    watts_per_core: float = 10.0
    powercap_root: str = "/sys/class/powercap"
    measure: str = "time"  # what time_ samples count (core/modes.py)

    @property
    def energy(self) -> dict[str, object]:
        """What the worker needs to measure (or estimate) energy."""
        return {"watts_per_core": self.watts_per_core, "powercap_root": self.powercap_root}

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def repo_path(self) -> Path:
        """The repository as a local path (a URL repo is cloned under env_dir by the runner)."""
        return Path(self.repo) if Path(self.repo).is_absolute() else self.root / self.repo

    def combinations(self, pythons: list[str] | None = None,
                     platform: str = sys.platform) -> list[asv_conf.Combination]:
        """The environments to measure in: each python (``pythons`` or the configured ones)
        with each combination of the matrix, as asv makes them (exclude, include)."""
        return asv_conf.combinations(list(pythons or self.pythons), self.matrix, self.exclude,
                                     self.include, self.environment_type, platform)

    def threshold_for(self, name: str) -> float:
        """Smallest relative change worth reporting for a benchmark: first matching regex."""
        for pattern, value in self.thresholds.items():
            if re.search(pattern, name):
                return value
        return 0.0


# key -> (accepted JSON types, description used in errors)
_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "version": ((int,), "an integer"),
    "project": ((str,), "a string"),
    "repo": ((str,), "a string"),
    "branches": ((list,), "a list of strings"),
    "benchmark_dir": ((str,), "a string"),
    "results_dir": ((str,), "a string"),
    "html_dir": ((str,), "a string"),
    "env_dir": ((str,), "a string"),
    "environment_type": ((str,), "a string"),
    "measure": ((str,), "a string"),
    "build_command": ((list, str), "a list of strings or a string"),
    "install_command": ((list, str), "a list of strings or a string"),
    "uninstall_command": ((list, str), "a list of strings or a string"),
    "pythons": ((list,), "a list of strings"),
    "requirements": ((dict,), "an object of package: version-spec strings"),
    "matrix": ((dict,), "an object (asv's matrix: req, env, env_nobuild)"),
    "exclude": ((list,), "a list of rule objects"),
    "include": ((list,), "a list of rule objects"),
    "show_commit_url": ((str,), "a string"),
    "default_timeout": ((int, float), "a number"),
    "wheel_cache_size": ((int,), "an integer"),
    "reject_disturbed": ((bool,), "true or false"),
    "thresholds": ((dict,), "an object of regex: number"),
    "watts_per_core": ((int, float), "a number"),
    "powercap_root": ((str,), "a string"),
}
KEYS = tuple(_SCHEMA)  # every key, in the order docs/config.md (and `histbench init`) use
_ENVIRONMENT_TYPES = ("virtualenv", "uv")
_COMMAND_KEYS = ("build_command", "install_command", "uninstall_command")
# what a command template may name (histbench's names, then asv's)
PLACEHOLDERS = ("build_dir", "env_dir", "wheel_dir", "python", "commit", "wheel_file",
                "project", "env_name", "env_type", "conf_dir", "build_cache_dir")


# A URL's scheme, as browsers find it once they have dropped the spaces around it (they
# also drop tabs and newlines anywhere, so " java\tscript:" is javascript: to them; control
# characters are refused before the scheme is looked at).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINK_SCHEMES = ("http", "https")


def commit_url_problem(url: str) -> str | None:
    """Why ``show_commit_url`` cannot be a link prefix, or None. Every commit on the site
    links to it, so a ``javascript:`` or ``data:`` prefix would run in the reader's browser:
    only http(s) and relative URLs (no scheme) are links; control characters, which
    browsers drop to find the scheme, are refused outright."""
    if _CONTROL.search(url):
        return "must not contain control characters (tabs, newlines)"
    scheme = _SCHEME.match(url.strip(" "))
    if scheme and scheme.group(1).lower() not in _LINK_SCHEMES:
        return (f"must be an http:// or https:// URL (or a relative one), "
                f"not a '{scheme.group(1)}:' URL")
    return None


def command_problem(template: str) -> str | None:
    """Why a command template cannot run, or None: shell syntax shlex cannot split, a
    placeholder histbench does not fill, prefixes the runner would refuse."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        return f"command {template!r} is not valid shell syntax ({exc})"
    if not words:
        return "has an empty command"
    for word in words:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(word) if f is not None]
        except ValueError as exc:
            return f"command {template!r}: bad placeholder ({exc})"
        for name in fields:
            base = re.split(r"[.\[]", name, maxsplit=1)[0]
            if base not in PLACEHOLDERS:
                return (f"command {template!r}: unknown placeholder {{{name}}} "
                        f"(known: {', '.join(PLACEHOLDERS)})")
    try:
        split_prefixes(words)
    except PrefixError as exc:
        return f"command {template!r}: {exc}"
    return None


def _in_dir(template: str) -> bool:
    """Whether a command (one command_problem passed) names its own folder."""
    return split_prefixes(shlex.split(template)).in_dir is not None


def find_config(start: Path | None = None) -> Path:
    """The nearest histbench.json at or above ``start``, as git finds .git; in a folder
    without one, its asv.conf.json."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in (CONFIG_NAME, asv_conf.ASV_CONF_NAME):
            candidate = folder / name
            if candidate.is_file():
                return candidate
    raise HistbenchError(f"no {CONFIG_NAME} (nor {asv_conf.ASV_CONF_NAME}) found in {here} "
                         "or any parent folder")


def load_config(path: Path, *, notes=None) -> Config:
    """The config at ``path``: a histbench.json, or an asv.conf.json read as the
    histbench.json ``histbench init`` would write (a note saying so, and a warning line for
    what does not carry over, go to ``notes``: stderr by default). Either way, histbench's
    folders must stay clear of asv's when an asv.conf.json is there."""
    try:
        path = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise HistbenchError(f"{path}: cannot read config ({exc})") from None
    say = notes or (lambda line: print(line, file=sys.stderr))
    if asv_conf.is_asv_conf(path):
        translation = asv_conf.translate(path)
        say(f"note: reading {path.name}, asv's config, in {path.parent} "
            "(`histbench init` writes the equivalent histbench.json)")
        for line in translation.warnings:
            say(line)
        config = _build(path, translation.data)
        beside = path
    else:
        data = read_json(path, "config file")
        if not isinstance(data, dict):
            raise HistbenchError(f"{path}: the config must be a JSON object")
        config = _build(path, data)
        beside = path.parent / asv_conf.ASV_CONF_NAME
    if beside.is_file():
        problem = asv_conf.clash({"results_dir": config.results_dir,
                                  "html_dir": config.html_dir, "env_dir": config.env_dir},
                                 beside, path)
        if problem:
            raise HistbenchError(problem)
    return config


def _build(path: Path, data: dict[str, Any]) -> Config:
    def fail(key: str, why: str) -> HistbenchError:
        return HistbenchError(f"{path}: key '{key}' {why}")

    for key, value in data.items():
        if key not in _SCHEMA:
            raise fail(key, f"is not a known key (known: {', '.join(sorted(_SCHEMA))})")
        types_, desc = _SCHEMA[key]
        if (isinstance(value, bool) and bool not in types_) or not isinstance(value, types_):
            raise fail(key, f"must be {desc}, got {type(value).__name__}")
    if "project" not in data:
        raise fail("project", "is required")
    for key in ("branches", "pythons"):
        if not all(isinstance(v, str) for v in data.get(key, [])):
            raise fail(key, "must be a list of strings")
    for branch in data.get("branches", []):
        if not branch.strip() or branch.strip().startswith("-"):
            raise fail("branches", f"entry {branch!r} is not a branch name (git would read a "
                       "leading '-' as an option)")
    for key in _COMMAND_KEYS:
        value = data.get(key, [])
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings or a string")
        for template in [value] if isinstance(value, str) else value:
            problem = command_problem(template)
            if problem:
                raise fail(key, problem)
    if data.get("uninstall_command") and not data.get("install_command"):
        raise fail("uninstall_command", "needs an install_command (histbench's own install "
                                        "leaves the environment as it is)")
    try:
        matrix = asv_conf.normalize_matrix(data.get("matrix", {}))
    except ValueError as exc:
        raise fail("matrix", str(exc)) from None
    for key in ("exclude", "include"):
        for rule in data.get(key, []):
            try:
                asv_conf.parse_rule(rule, include=key == "include")
            except ValueError as exc:
                raise fail(key, str(exc)) from None
    for name, spec in data.get("requirements", {}).items():
        if not isinstance(spec, str):
            raise fail("requirements", f"entry '{name}' must be a version-spec string")
    thresholds = {}
    for pattern, value in data.get("thresholds", {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not _finite(value) or value < 0:
            raise fail("thresholds", f"entry '{pattern}' must be a non-negative number")
        try:
            compile_pattern(pattern)
        except HistbenchError as exc:
            raise fail("thresholds", f"entry {exc}") from None
        thresholds[pattern] = float(value)
    if data.get("measure", "time") not in MODES:
        raise fail("measure", f"must be one of {', '.join(MODES)}")
    if data.get("environment_type", "virtualenv") not in _ENVIRONMENT_TYPES:
        raise fail("environment_type", f"must be one of {', '.join(_ENVIRONMENT_TYPES)}")
    for key, default in (("default_timeout", DEFAULT_TIMEOUT), ("watts_per_core", 10)):
        value = data.get(key, default)
        if not _finite(value) or value <= 0:  # NaN compares false with everything
            raise fail(key, "must be a positive finite number")
    if not 1 <= data.get("wheel_cache_size", 50) <= 100_000:
        raise fail("wheel_cache_size", "must be between 1 and 100000")
    url_problem = commit_url_problem(data.get("show_commit_url", ""))
    if url_problem:
        raise fail("show_commit_url", url_problem)
    root = path.parent

    def folder(key: str, default: str) -> Path:
        value = Path(data.get(key, default))
        value = value if value.is_absolute() else root / value
        if value.exists() and not value.is_dir():  # caught here, not as a traceback mid-run
            raise fail(key, f"names {value}, which is a file, not a folder")
        return value

    def command(key: str) -> list[str]:
        value = data.get(key, [])
        return [value] if isinstance(value, str) else list(value)

    uninstall = [c if _in_dir(c) else f"in-dir={{env_dir}} {c}"
                 for c in command("uninstall_command")]  # asv runs it in the env's folder

    return Config(
        path=path,
        project=data["project"],
        repo=data.get("repo", "."),
        branches=list(data.get("branches", ["HEAD"])) or ["HEAD"],
        benchmark_dir=folder("benchmark_dir", "benchmarks"),
        results_dir=folder("results_dir", "results"),
        html_dir=folder("html_dir", "html"),
        env_dir=folder("env_dir", ".histbench"),
        environment_type=data.get("environment_type", "virtualenv"),
        build_command=command("build_command"),
        install_command=uninstall + command("install_command"),
        uninstall_command=command("uninstall_command"),
        pythons=list(data.get("pythons", [])) or [f"{sys.version_info[0]}.{sys.version_info[1]}"],
        requirements=dict(data.get("requirements", {})),
        matrix=matrix,
        exclude=list(data.get("exclude", [])),
        include=list(data.get("include", [])),
        show_commit_url=data.get("show_commit_url", ""),
        default_timeout=float(data.get("default_timeout", DEFAULT_TIMEOUT)),
        wheel_cache_size=int(data.get("wheel_cache_size", 50)),
        reject_disturbed=bool(data.get("reject_disturbed", True)),
        thresholds=thresholds,
        watts_per_core=float(data.get("watts_per_core", 10.0)),
        powercap_root=data.get("powercap_root", "/sys/class/powercap"),
        measure=data.get("measure", "time"),
    )


def _finite(value: float) -> bool:
    """Finite as a float: an integer of 400 digits is not (float() would overflow)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def default_config(root: Path) -> Config:
    """For `histbench dev` in a folder without a config: benchmarks/ next to the cwd (and,
    beside an asv.conf.json, histbench's folders kept out of asv's defaults)."""
    data: dict[str, Any] = {"project": root.resolve().name}
    if (root / asv_conf.ASV_CONF_NAME).is_file():
        data.update(asv_conf.OWN_DIRS_BESIDE_ASV)
    return _build((root / CONFIG_NAME).resolve(), data)
