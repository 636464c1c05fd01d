"""Isolated environments, and building and installing the project at a commit.

One virtualenv per (python, requirements): created once and kept under ``env_dir``. Each
commit is built once into a wheel cache, then "installed" by unpacking the wheel into a
folder of its own that goes first on the worker's PYTHONPATH. That makes a commit's install
a few milliseconds of unzip instead of a pip run, lets several commits share one
environment (which ``--interleave`` needs: rounds alternate between commits), and makes a
re-run of a cached commit free. A user-supplied ``install_command`` switches to the classic
install-into-the-env way.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from histbench.core.errors import HistbenchError
from histbench.measure import BUILD_SCRIPT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_BACKEND = ("setuptools.build_meta:__legacy__", ["setuptools>=40.8.0", "wheel"])
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

    @property
    def python(self) -> str:
        return str(self.path / ("Scripts" if os.name == "nt" else "bin") / "python")

    def worker_env(self, install_dir: Path | None) -> dict[str, str]:
        """Process environment for workers: the env's interpreter first, and the commit's
        unpacked wheel ahead of everything, never the user's PYTHONPATH (which could
        point at the working tree)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
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


def env_name(kind: str, version: str, requirements: dict[str, str]) -> str:
    """asv-like names: ``virtualenv-py3.11`` plus the requirements when there are any."""
    name = f"{kind}-py{version}"
    for pkg, spec in sorted(requirements.items()):
        name += f"-{pkg}{re.sub(r'[^A-Za-z0-9.]+', '', spec)}"
    return name


def uv_available() -> bool:
    return shutil.which("uv") is not None


class EnvManager:
    """Creates environments and builds/installs commits into them, with a wheel cache."""

    def __init__(self, env_dir: Path, *, kind: str = "virtualenv", project: str = "",
                 build_command: list[str] | None = None,
                 install_command: list[str] | None = None, cache_size: int = 50):
        if kind == "uv" and not uv_available():
            raise HistbenchError("environment_type 'uv': the uv command is not installed")
        self.env_dir = Path(env_dir).resolve()
        self.kind = kind
        self.project = project
        self.build_command = build_command or []
        self.install_command = install_command or []
        self.cache_size = cache_size

    # -- environments ---------------------------------------------------------------------

    def environment(self, python_spec: str, requirements: dict[str, str]) -> Environment:
        base = find_python(python_spec)
        version = python_version(base)
        name = env_name(self.kind, version, requirements)
        return Environment(name=name, path=self.env_dir / "envs" / name, base_python=base,
                           version=version, kind=self.kind, requirements=requirements)

    def create(self, env: Environment) -> None:
        """Create the env once; a half-created one (no marker) is wiped and made again."""
        marker = env.path / MARKER
        if marker.exists() and Path(env.python).exists():
            return
        if env.path.exists():
            shutil.rmtree(env.path)
        env.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "uv":
            cmd = ["uv", "venv", "--quiet", "--seed", "--python", env.base_python, str(env.path)]
        else:
            cmd = [sys.executable, "-m", "virtualenv", "--quiet", "--python", env.base_python,
                   "--no-periodic-update", str(env.path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HistbenchError(f"cannot create environment {env.name}: "
                                 f"{_last_line(proc.stderr or proc.stdout)}")
        reqs = [f"{pkg}{spec}" for pkg, spec in sorted(env.requirements.items())]
        if reqs:
            self._pip_install(env, reqs, what="requirements")
        marker.write_text(json.dumps({"installed": sorted(reqs)}))

    def _installed(self, env: Environment) -> set[str]:
        try:
            return set(json.loads((env.path / MARKER).read_text())["installed"])
        except (OSError, ValueError, KeyError):
            return set()

    def ensure_packages(self, env: Environment, reqs: list[str], what: str) -> None:
        """Install requirement strings not installed before (tracked, so a history whose
        build requirements never change pays for them once)."""
        done = self._installed(env)
        missing = [r for r in reqs if r not in done]
        if not missing:
            return
        self._pip_install(env, missing, what=what)
        marker = env.path / MARKER
        marker.write_text(json.dumps({"installed": sorted(done | set(missing))}))

    def _pip_install(self, env: Environment, reqs: list[str], what: str) -> None:
        if self.kind == "uv":
            cmd = ["uv", "pip", "install", "--quiet", "--python", env.python, *reqs]
        else:
            cmd = [env.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   *reqs]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"cannot install {what} ({', '.join(reqs)}): "
                             f"{_last_line(proc.stderr)}", proc.stderr[-LOG_TAIL:])

    # -- building ---------------------------------------------------------------------------

    def wheel_dir(self, env: Environment, sha: str) -> Path:
        return self.env_dir / "wheels" / f"py{env.version}" / sha

    def cached_wheel(self, env: Environment, sha: str) -> Path | None:
        wheels = sorted(self.wheel_dir(env, sha).glob("*.whl"))
        if wheels:
            os.utime(wheels[0].parent)  # most recently used, for the cache's eviction
            return wheels[0]
        return None

    def build(self, env: Environment, build_dir: Path, sha: str) -> Path:
        """Build ``sha`` (checked out at ``build_dir``) into the wheel cache; raise BuildError."""
        out = self.wheel_dir(env, sha)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if self.build_command:
                self._run_templates(self.build_command, env, build_dir, tmp, sha, None)
            else:
                self._pep517(env, build_dir, tmp)
            wheels = sorted(tmp.glob("*.whl"))
            if not wheels:
                raise BuildError("the build produced no wheel", "")
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._evict()
        return out / wheels[0].name

    def _pep517(self, env: Environment, build_dir: Path, wheel_dir: Path) -> None:
        backend, backend_path, requires = read_build_system(build_dir)
        self.ensure_packages(env, requires, what="build requirements")
        proc = subprocess.run([env.python, str(BUILD_SCRIPT), str(build_dir), str(wheel_dir),
                               backend, *backend_path], capture_output=True, text=True,
                              cwd=build_dir, env=env.worker_env(None))
        if proc.returncode != 0:
            log = (proc.stdout + proc.stderr)[-LOG_TAIL:]
            raise BuildError(f"build failed: {_last_line(proc.stderr or proc.stdout)}", log)

    def _run_templates(self, commands: list[str], env: Environment, build_dir: Path,
                       wheel_dir: Path, sha: str, wheel_file: Path | None) -> None:
        values = {"build_dir": str(build_dir), "env_dir": str(env.path),
                  "wheel_dir": str(wheel_dir), "python": env.python, "commit": sha,
                  "wheel_file": str(wheel_file or "")}
        for template in commands:
            try:
                cmd = [part.format(**values) for part in shlex.split(template)]
            except (KeyError, IndexError, ValueError) as exc:
                raise HistbenchError(f"command {template!r}: bad placeholder {exc}") from None
            proc = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True,
                                  env=env.worker_env(None))
            if proc.returncode != 0:
                log = (proc.stdout + proc.stderr)[-LOG_TAIL:]
                raise BuildError(f"{cmd[0]} failed: {_last_line(proc.stderr or proc.stdout)}",
                                 log)

    def _evict(self) -> None:
        """Keep the ``cache_size`` most recently used builds (and their unpacked installs)."""
        root = self.env_dir / "wheels"
        builds = sorted((d for d in root.glob("py*/*") if d.is_dir()
                         and not d.name.endswith(".tmp")), key=lambda d: d.stat().st_mtime)
        for old in builds[:max(0, len(builds) - self.cache_size)]:
            shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(self.env_dir / "installs" / old.parent.name / old.name,
                          ignore_errors=True)

    # -- installing -------------------------------------------------------------------------

    def install(self, env: Environment, wheel: Path, build_dir: Path, sha: str) -> Path | None:
        """Make ``sha`` importable for the workers; returns the folder for PYTHONPATH."""
        if self.install_command:
            self._run_templates(self.install_command, env, build_dir, wheel.parent, sha, wheel)
            return None
        self.ensure_packages(env, wheel_requirements(wheel), what="dependencies")
        target = self.env_dir / "installs" / f"py{env.version}" / sha
        if not (target / ".complete").exists():
            unpack_wheel(wheel, target)
        return target


def read_build_system(build_dir: Path) -> tuple[str, list[str], list[str]]:
    """(backend, backend-path, requires) from pyproject.toml, with PEP 517's fallback."""
    path = build_dir / "pyproject.toml"
    if not path.exists():
        backend, requires = DEFAULT_BACKEND
        return backend, [], list(requires)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(f"pyproject.toml is not valid TOML ({exc})", str(exc)) from None
    system = data.get("build-system", {})
    if "build-backend" not in system:
        backend, requires = DEFAULT_BACKEND
        return backend, [], list(system.get("requires", requires))
    return system["build-backend"], list(system.get("backend-path", [])), list(
        system.get("requires", []))


def wheel_requirements(wheel: Path) -> list[str]:
    """Unconditional Requires-Dist of a wheel (extras are not the project's to need)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        text = zf.read(meta).decode("utf-8", "replace") if meta else ""
    reqs = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            req = line.split(":", 1)[1].strip()
            if "extra ==" not in req:
                reqs.append(req)
    return reqs


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Unpack a wheel as an install would place its importable files.

    ``<name>.data/purelib`` and ``platlib`` belong next to the packages; scripts and
    headers are not needed to import the project, so they are left out.
    """
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp)
    for data_dir in tmp.glob("*.data"):
        for sub in ("purelib", "platlib"):
            for item in (data_dir / sub).glob("*") if (data_dir / sub).is_dir() else []:
                shutil.move(str(item), str(tmp / item.name))
        shutil.rmtree(data_dir)
    (tmp / ".complete").write_text(str(time.time()))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"
