"""Isolated environments: one virtualenv per (python, requirements), created once and kept
under ``env_dir``, shared by every commit (each commit's build goes beside it, on the
workers' PYTHONPATH: run/wheels.py), and what each one has installed.

An environment of asv's matrix may also set environment variables: they are part of its
name (results of ``OMP_NUM_THREADS=1`` and ``=4`` are two series), not of its folder (the
virtualenv does not depend on them, so environments differing only in them share one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.errors import HistbenchError
from histbench.run import reaper
from histbench.run.locks import exclusive, lock_dir

LOG_TAIL = 3000
MARKER = "histbench-env.json"


class BuildError(Exception):
    """A commit that does not build: recorded in its result file, the run goes on."""

    def __init__(self, message: str, log: str):
        super().__init__(message)
        self.log = log


def find_python(spec: str) -> str:
    """An interpreter for a ``pythons`` entry: a version such as "3.11" or a path."""
    if os.sep in spec or spec.startswith("."):
        path = Path(spec).expanduser()
        if not path.exists():
            raise HistbenchError(f"python {spec!r}: no such interpreter")
        return str(path)
    if re.fullmatch(r"\d+(\.\d+)?", spec):
        if f"{sys.version_info[0]}.{sys.version_info[1]}".startswith(spec):
            return sys.executable
        found = shutil.which(f"python{spec}")
        if found:
            return found
    found = shutil.which(spec)
    if not found:
        raise HistbenchError(f"python {spec!r}: not found on PATH (install it or give a path)")
    return found


def python_version(python: str) -> str:
    proc = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise HistbenchError(f"{python}: interpreter does not run")
    return proc.stdout.strip()


@dataclass
class Environment:
    """One isolated interpreter with the suite's requirements installed."""

    name: str
    path: Path
    base_python: str
    version: str
    kind: str = "virtualenv"
    requirements: dict[str, str] = field(default_factory=dict)
    # the matrix's variables: all of them for the benchmarks, the build ones (asv's "env",
    # not "env_nobuild") also for building and installing
    env_vars: dict[str, str] = field(default_factory=dict)
    build_env_vars: dict[str, str] = field(default_factory=dict)
    conf_dir: Path | None = None  # the config's folder: {conf_dir}, relative in-dir=

    @property
    def python(self) -> str:
        return str(self.path / ("Scripts" if os.name == "nt" else "bin") / "python")

    @property
    def build_key(self) -> str:
        """What a commit's build depends on besides the commit: the python, and the build
        variables when there are any (the wheel cache keeps each apart)."""
        if not self.build_env_vars:
            return f"py{self.version}"
        blob = json.dumps(sorted(self.build_env_vars.items()))
        return f"py{self.version}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    def worker_env(self, install_dir: Path | None, *, build: bool = False) -> dict[str, str]:
        """Process environment for workers (``build``: for build and install commands): the
        env's interpreter first, its matrix variables, and the commit's unpacked wheel ahead
        of everything, never the user's PYTHONPATH (which could point at the working
        tree)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
        env.update(self.build_env_vars if build else self.env_vars)
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = str(Path(self.python).parent) + os.pathsep + env.get("PATH", "")
        if install_dir is not None:
            env["PYTHONPATH"] = str(install_dir)
        return env


PACKAGES_SCRIPT = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() "
    "if d.metadata['Name']}))")


def installed_packages(python: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Name -> version of every distribution the interpreter sees, for reproducibility."""
    proc = subprocess.run([python, "-c", PACKAGES_SCRIPT], capture_output=True, text=True,
                          env=env)
    try:
        return dict(sorted(json.loads(proc.stdout).items())) if proc.returncode == 0 else {}
    except ValueError:
        return {}


def unpacked_distributions(install_dir: Path | None) -> dict[str, str]:
    """Name -> version of the distributions unpacked in a commit's install folder (its own
    wheel): with the environment's list, what that commit ran with, without a subprocess."""
    found: dict[str, str] = {}
    for meta in sorted(Path(install_dir).glob("*.dist-info/METADATA")) if install_dir else []:
        fields = dict(line.split(": ", 1) for line in meta.read_text(errors="replace")
                      .splitlines()[:20] if ": " in line)
        if "Name" in fields and "Version" in fields:
            found[fields["Name"]] = fields["Version"]
    return found


def env_name(kind: str, version: str, requirements: dict[str, str],
             env_vars: dict[str, str] | None = None) -> str:
    """asv-like names: ``virtualenv-py3.11`` plus the requirements when there are any, then
    the matrix's variables (``-OMP_NUM_THREADS1``); a value that loses characters to the
    file name gets a short hash of itself, so two values never share a name."""
    name = f"{kind}-py{version}"
    for pkg, spec in sorted(requirements.items()):
        name += f"-{pkg}{re.sub(r'[^A-Za-z0-9.]+', '', _spec_tag(spec))}"
    for var, value in sorted((env_vars or {}).items()):
        tag = re.sub(r"[^A-Za-z0-9._]+", "", value)
        if tag != value:
            tag += "~" + hashlib.sha256(value.encode()).hexdigest()[:6]
        name += f"-{var}{tag}"
    return name


def _spec_tag(spec: str) -> str:
    """A direct reference (``@ URL``) is named by its wheel's version, or its file name."""
    if not spec.lstrip().startswith("@"):
        return spec
    base = spec.rstrip("/").rsplit("/", 1)[-1]
    parts = base.split("-")
    return parts[1] if base.endswith(".whl") and len(parts) >= 5 else base


def distinct(envs: list[Environment]) -> list[Environment]:
    """Each environment once; two different ones that came out with the same name (specs
    that differ only in characters a name drops, ``<2`` and ``>=2``) each get a short hash
    of what they are, in their name and, when their packages differ, their folder."""
    def short(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:6]

    def packages(env: Environment) -> str:
        return json.dumps([env.base_python, sorted(env.requirements.items())])

    def what(env: Environment) -> str:
        return json.dumps([packages(env), sorted(env.env_vars.items()),
                           sorted(env.build_env_vars.items())])

    unique = list({what(e): e for e in envs}.values())
    folders: dict[Path, set[str]] = {}
    names: dict[str, int] = {}
    for env in unique:
        folders.setdefault(env.path, set()).add(packages(env))
        names[env.name] = names.get(env.name, 0) + 1
    for env in unique:
        if len(folders[env.path]) > 1:
            env.path = env.path.with_name(f"{env.path.name}-{short(packages(env))}")
        if names[env.name] > 1:
            env.name += "-" + short(what(env))
    return unique


def uv_available() -> bool:
    return shutil.which("uv") is not None


class EnvManager:
    """Creates environments and installs requirements into them, once each (building and
    installing commits is run/wheels.py's)."""

    def __init__(self, env_dir: Path, *, kind: str = "virtualenv", project: str = ""):
        if kind == "uv" and not uv_available():
            raise HistbenchError("environment_type 'uv': the uv command is not installed")
        self.env_dir = Path(env_dir).resolve()
        self.kind = kind
        self.project = project

    # -- environments ---------------------------------------------------------------------

    def environment(self, python_spec: str, requirements: dict[str, str], *,
                    env_vars: dict[str, str] | None = None,
                    build_env_vars: dict[str, str] | None = None,
                    conf_dir: Path | None = None) -> Environment:
        base = find_python(python_spec)
        version = python_version(base)
        folder = env_name(self.kind, version, requirements)
        return Environment(name=env_name(self.kind, version, requirements, env_vars),
                           path=self.env_dir / "envs" / folder, base_python=base,
                           version=version, kind=self.kind, requirements=requirements,
                           env_vars=dict(env_vars or {}),
                           build_env_vars=dict(build_env_vars or {}), conf_dir=conf_dir)

    def lock_path(self, env: Environment) -> Path:
        """The env's folder's lock (environments differing only in variables share it)."""
        return lock_dir(self.env_dir) / f"env-{env.path.name}.lock"

    def create(self, env: Environment) -> None:
        """Create the env once. Runs sharing ``env_dir`` wait for each other here, and a
        half-made env (killed mid-creation: its marker, written last, missing or
        unreadable, or its interpreter gone) is wiped and made again."""
        with exclusive(self.lock_path(env)):
            if self.complete(env):
                return
            try:
                self._make(env)
            except BuildError as exc:  # the env's own requirements, not a commit's build:
                raise HistbenchError(f"environment {env.name}: {exc}") from None  # fatal

    def complete(self, env: Environment) -> bool:
        """Whether creation finished: the marker is written last, atomically."""
        return (self._read_marker(env) is not None and Path(env.python).exists()
                and (env.path / "pyvenv.cfg").exists())

    def _make(self, env: Environment) -> None:
        if env.path.exists():
            shutil.rmtree(env.path)
        env.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "uv":
            cmd = ["uv", "venv", "--quiet", "--seed", "--python", env.base_python, str(env.path)]
        else:
            cmd = [sys.executable, "-m", "virtualenv", "--quiet", "--python", env.base_python,
                   "--no-periodic-update", str(env.path)]
        proc = reaper.run_kept(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HistbenchError(f"cannot create environment {env.name}: "
                                 f"{last_line(proc.stderr or proc.stdout)}")
        reqs = [f"{pkg}{spec}" for pkg, spec in sorted(env.requirements.items())]
        if reqs:
            self._pip_install(env, reqs, what="requirements")
        self._write_marker(env, set(reqs))

    def _read_marker(self, env: Environment) -> set[str] | None:
        try:
            return set(json.loads((env.path / MARKER).read_text())["installed"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_marker(self, env: Environment, installed: set[str]) -> None:
        """Write-then-rename: a kill mid-write leaves the old marker (or none), never a
        truncated one."""
        marker = env.path / MARKER
        tmp = marker.with_name(f"{MARKER}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"installed": sorted(installed)}))
        os.replace(tmp, marker)

    def ensure_packages(self, env: Environment, reqs: list[str], what: str) -> None:
        """Install requirement strings not installed before (tracked, so a history whose
        build requirements never change pays for them once). Under the env's lock: two
        runs must not pip into one env at once, nor lose each other's marker entries."""
        with exclusive(self.lock_path(env)):
            done = self._read_marker(env) or set()
            missing = [r for r in reqs if r not in done]
            if not missing:
                return
            self._pip_install(env, missing, what=what)
            self._write_marker(env, done | set(missing))

    def _pip_install(self, env: Environment, reqs: list[str], what: str) -> None:
        if self.kind == "uv":
            cmd = ["uv", "pip", "install", "--quiet", "--python", env.python, *reqs]
        else:
            cmd = [env.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   *reqs]
        proc = reaper.run_kept(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"cannot install {what} ({', '.join(reqs)}): "
                             f"{last_line(proc.stderr)}", proc.stderr[-LOG_TAIL:])


def last_line(text: str, width: int = 300) -> str:
    """A command's last words (its error, usually), cut to ``width`` characters."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:width] if lines else "no output"
