"""Each commit built once into a wheel cache, then "installed" beside its environment.

Installing is unpacking the wheel into a folder of the commit's own that goes first on the
workers' PYTHONPATH: a few milliseconds of unzip instead of a pip run. That lets several
commits share one environment (which ``--interleave`` needs: rounds alternate between
commits), and makes a re-run of a cached commit free. A user-supplied ``install_command``
switches to the classic install-into-the-env way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import time
import zipfile
from pathlib import Path

from histbench.core.command_prefixes import Command, PrefixError, split_prefixes
from histbench.core.errors import HistbenchError
from histbench.measure import BUILD_SCRIPT
from histbench.run import reaper
from histbench.run.environments import LOG_TAIL, BuildError, Environment, EnvManager, last_line
from histbench.run.locks import (
    bucket_lock_path,
    exclusive,
    in_use_lock_path,
    try_exclusive,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_BACKEND = ("setuptools.build_meta:__legacy__", ["setuptools>=40.8.0", "wheel"])


class CommitWheels:
    """Builds commits into the wheel cache (the ``cache_size`` most recently used kept) and
    installs them for the workers."""

    def __init__(self, envs: EnvManager, *, build_command: list[str] | None = None,
                 install_command: list[str] | None = None, cache_size: int = 50):
        self.envs = envs
        self.env_dir = envs.env_dir
        self.build_command = build_command or []
        self.install_command = install_command or []
        self.cache_size = cache_size

    def cache_key(self, env: Environment) -> str:
        """What a cached build depends on besides the commit: the env's build key, and the
        ``build_command`` (a changed command must not reuse wheels the old one made)."""
        if not self.build_command:
            return env.build_key
        digest = hashlib.sha256(json.dumps(self.build_command).encode()).hexdigest()[:10]
        return f"{env.build_key}-cmd{digest}"

    def wheel_dir(self, env: Environment, sha: str) -> Path:
        return self.env_dir / "wheels" / self.cache_key(env) / sha

    def install_dir(self, env: Environment, sha: str) -> Path:
        return self.env_dir / "installs" / self.cache_key(env) / sha

    def commit_lock(self, env: Environment, sha: str):
        """Held while a commit is looked up, built and unpacked: runs sharing the cache
        build a commit once, and never read a build another run is replacing."""
        return exclusive(self._lock_path(env, sha))

    def in_use_path(self, env: Environment, sha: str) -> Path:
        """Held shared while measuring with the commit's install: no run evicts it."""
        return in_use_lock_path(self.env_dir, f"{self.cache_key(env)}/{sha}")

    def _lock_path(self, env: Environment, sha: str) -> Path:
        return bucket_lock_path(self.env_dir, f"{self.cache_key(env)}/{sha}")

    def cached_wheel(self, env: Environment, sha: str) -> Path | None:
        """The commit's cached wheel if it is sound (call under ``commit_lock``); a damaged
        one (truncated, a missing file, no package: a build killed or raced) is removed
        with its unpacked install, so the commit is built again instead of measured
        without its code."""
        wheels = sorted(self.wheel_dir(env, sha).glob("*.whl"))
        if wheels and wheel_problem(wheels[0]) is None:
            os.utime(wheels[0].parent)  # most recently used, for the cache's eviction
            return wheels[0]
        if self.wheel_dir(env, sha).exists():
            self._forget(env, sha)
        return None

    def _forget(self, env: Environment, sha: str) -> None:
        shutil.rmtree(self.wheel_dir(env, sha), ignore_errors=True)
        shutil.rmtree(self.install_dir(env, sha), ignore_errors=True)

    def build(self, env: Environment, build_dir: Path, sha: str) -> Path:
        """Build ``sha`` (checked out at ``build_dir``) into the wheel cache; raise BuildError.
        Call under ``commit_lock``: the temporary folder is then this run's alone."""
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
            problem = wheel_problem(wheels[0])
            if problem:
                raise BuildError(f"the build produced a broken wheel: {problem}", "")
            self._forget(env, sha)  # an install unpacked from an earlier build is stale
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._evict(env, sha)
        return out / wheels[0].name

    def _pep517(self, env: Environment, build_dir: Path, wheel_dir: Path) -> None:
        backend, backend_path, requires = read_build_system(build_dir)
        self.envs.ensure_packages(env, requires, what="build requirements")
        proc = reaper.run_kept([env.python, str(BUILD_SCRIPT), str(build_dir), str(wheel_dir),
                                backend, *backend_path], capture_output=True, text=True,
                               cwd=build_dir, env=env.worker_env(None, build=True))
        if proc.returncode != 0:
            log = (proc.stdout + proc.stderr)[-LOG_TAIL:]
            raise BuildError(f"build failed: {last_line(proc.stderr or proc.stdout)}", log)

    def _run_templates(self, commands: list[str], env: Environment, build_dir: Path,
                       wheel_dir: Path, sha: str, wheel_file: Path | None) -> None:
        """Run build or install commands the way asv runs them: split as a POSIX shell
        would (shlex) but run without one (no ``cd``, globs or ``$VAR`` expansion), after
        the placeholders are filled, histbench's names and asv's; leading ``VAR=value``
        words set variables for that command, ``in-dir=PATH`` its folder (relative to the
        config's, where asv runs; default the build folder), ``return-code=0,1`` or
        ``=any`` the exit codes that mean success. The env's interpreter comes first on
        PATH, with the matrix's build variables and asv's ``ASV_*`` ones. Before build
        commands the commit's build requirements (and ``build``, for ``python -m build``)
        are installed in the env, as asv does, so builds without isolation work."""
        values = {"build_dir": str(build_dir), "env_dir": str(env.path),
                  "wheel_dir": str(wheel_dir), "build_cache_dir": str(wheel_dir),
                  "python": env.python, "commit": sha, "wheel_file": str(wheel_file or ""),
                  "project": self.envs.project, "env_name": env.name, "env_type": env.kind,
                  "conf_dir": str(env.conf_dir or build_dir)}
        if wheel_file is None:
            self._build_tools(env, build_dir, commands)
        base = {**env.worker_env(None, build=True), "ASV": "true",
                **{f"ASV_{key.upper()}": values[key] for key in (
                    "project", "conf_dir", "env_name", "env_dir", "env_type", "commit",
                    "build_dir", "build_cache_dir")}}
        for template in commands:
            command = parse_template(template, values)
            cmd = command.argv
            cwd = build_dir if command.in_dir is None \
                else Path(values["conf_dir"]) / command.in_dir
            try:
                proc = reaper.run_kept(cmd, cwd=cwd, capture_output=True, text=True,
                                       env={**base, **command.variables})
            except OSError as exc:  # no such program, or in-dir folder
                raise BuildError(f"{cmd[0]}: cannot run ({exc.strerror or exc})",
                                 str(exc)) from None
            if command.codes is not None and proc.returncode not in command.codes:
                log = (proc.stdout + proc.stderr)[-LOG_TAIL:]
                raise BuildError(f"{cmd[0]} failed: {last_line(proc.stderr or proc.stdout)}",
                                 log)

    def _build_tools(self, env: Environment, build_dir: Path, commands: list[str]) -> None:
        tools = ["build"] if any(re.search(r"(^|\s)-m\s*build(\s|$)", c)
                                 for c in commands) else []
        if (build_dir / "pyproject.toml").exists():
            try:
                tools += read_build_system(build_dir)[2]
            except BuildError:
                pass  # the commands meet the broken file themselves
        if tools:
            self.envs.ensure_packages(env, tools, what="build requirements")

    def _evict(self, env: Environment, keep: str) -> None:
        """Keep the ``cache_size`` most recently used builds (and their unpacked installs);
        a build whose commit lock another run holds (being built or unpacked), or that a
        run is measuring with (``in_use``, this one included), is skipped."""
        root = self.env_dir / "wheels"
        builds = sorted((d for d in root.glob("py*/*") if d.is_dir()
                         and not d.name.endswith(".tmp")), key=lambda d: d.stat().st_mtime)
        for old in builds[:max(0, len(builds) - self.cache_size)]:
            if old.name == keep and old.parent.name == self.cache_key(env):
                continue
            key = f"{old.parent.name}/{old.name}"
            with try_exclusive(bucket_lock_path(self.env_dir, key)) as building, \
                    try_exclusive(in_use_lock_path(self.env_dir, key)) as unused:
                if building and unused:
                    shutil.rmtree(old, ignore_errors=True)
                    shutil.rmtree(self.env_dir / "installs" / key, ignore_errors=True)

    def install(self, env: Environment, wheel: Path, build_dir: Path, sha: str) -> Path | None:
        """Make ``sha`` importable for the workers; returns the folder for PYTHONPATH.
        Call under ``commit_lock``; an unpacked install missing a top-level name of its
        wheel is unpacked again."""
        if self.install_command:
            self._run_templates(self.install_command, env, build_dir, wheel.parent, sha, wheel)
            return None
        self.envs.ensure_packages(env, wheel_requirements(wheel), what="dependencies")
        target = self.install_dir(env, sha)
        if not (target / ".complete").exists() or not install_matches(wheel, target):
            unpack_wheel(wheel, target)
        return target


def parse_template(template: str, values: dict[str, str]) -> Command:
    """A command template as asv reads one: the words are split and filled first, then
    the prefixes are taken off (core/command_prefixes.py)."""
    try:
        words = [part.format(**values) for part in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as exc:
        raise HistbenchError(f"command {template!r}: bad placeholder {exc}") from None
    try:
        return split_prefixes(words)
    except PrefixError as exc:
        raise HistbenchError(f"command {template!r}: {exc}") from None


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


def wheel_problem(wheel: Path) -> str | None:
    """Why a wheel must not be installed, or None: not a readable zip (truncated, a CRC
    mismatch), no RECORD or a file RECORD lists missing, or no importable top-level package
    or module (or one named in top_level.txt missing)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            damaged = zf.testzip()
            if damaged is not None:
                return f"{damaged} is damaged"
            record = next((n for n in sorted(names) if n.count("/") == 1
                           and n.endswith(".dist-info/RECORD")), None)
            if record is None:
                return "no .dist-info/RECORD"
            listed = [row[0] for row in csv.reader(io.StringIO(zf.read(record).decode()))
                      if row and row[0]]
            declared = _declared_top_level(zf, record, names)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError,
            csv.Error) as exc:
        return f"not a valid wheel ({exc or type(exc).__name__})"
    return _contents_problem(names, listed, declared)


def _declared_top_level(zf: zipfile.ZipFile, record: str, names: set[str]) -> set[str]:
    path = record.rsplit("/", 1)[0] + "/top_level.txt"
    if path not in names:
        return set()
    return {ln.strip() for ln in zf.read(path).decode().splitlines() if ln.strip()}


def _contents_problem(names: set[str], listed: list[str], declared: set[str]) -> str | None:
    missing = next((n for n in listed if n not in names), None)
    if missing:
        return f"RECORD lists {missing}, which the wheel lacks"
    tops = top_level_names(names)
    if not tops:
        return "no package or module in the wheel"
    absent = sorted(declared - tops)
    if absent:
        return f"top-level {absent[0]!r} missing from the wheel"
    return None


def top_level_names(names: set[str]) -> set[str]:
    """Importable top-level names of a wheel's files: package folders and modules, also
    those under ``<name>.data/purelib|platlib``."""
    tops = set()
    for name in names:
        parts = name.split("/")
        if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            parts = parts[2:]
        elif parts[0].endswith((".dist-info", ".data")):
            continue
        if len(parts) > 1 and parts[1]:
            tops.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            tops.add(parts[0].split(".", 1)[0])
    return tops


def install_matches(wheel: Path, target: Path) -> bool:
    """Whether every top-level name of the wheel is in its unpacked install."""
    with zipfile.ZipFile(wheel) as zf:
        tops = top_level_names(set(zf.namelist()))
    present = {p.name.split(".", 1)[0] for p in target.iterdir()} if target.is_dir() else set()
    return tops <= present
