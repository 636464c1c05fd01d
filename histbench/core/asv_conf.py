"""asv's config, read by histbench: ``asv.conf.json`` translated into what ``histbench.json``
would say, and asv's environment matrix (``matrix``, ``exclude``, ``include``), which
``histbench.json`` takes in asv's own form.

Translating rather than loading asv's keys as they are keeps one schema: everything that
reaches ``Config`` is checked by ``config.py``, and ``histbench init`` writes out exactly what
was translated. Keys that mean nothing to histbench are named in one warning line; keys
whose meaning histbench cannot honour (a Mercurial repo, ``repo_subdir``) stop it.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histbench.core.command_prefixes import split_prefixes
from histbench.core.errors import HistbenchError
from histbench.core.files import read_document_bytes

ASV_CONF_NAME = "asv.conf.json"
# asv's own folders, where asv.conf.json does not name them
ASV_DIR_DEFAULTS = {"results_dir": "results", "html_dir": "html", "env_dir": "env"}
# histbench's folders when it reads asv.conf.json: never asv's defaults, so the two tools
# can share a repository (histbench.json gets these too, written by `histbench init`)
OWN_DIRS_BESIDE_ASV = {"results_dir": "histbench-results", "html_dir": "histbench-html"}

MATRIX_TYPES = ("req", "env", "env_nobuild")
RULE_BARE_KEYS = ("python", "environment_type", "sys_platform")
CONDA_LIKE = ("conda", "mamba", "rattler")

# asv keys histbench uses (translated below); every other key is named in the warning line
_USED = {"version", "project", "repo", "repo_subdir", "dvcs", "branches", "pythons",
         "benchmark_dir", "show_commit_url", "environment_type", "matrix", "exclude",
         "include", "build_command", "install_command", "uninstall_command",
         "default_benchmark_timeout", "regressions_thresholds", "results_dir", "html_dir",
         "env_dir"}
_PASSED = ("version", "project", "repo", "branches", "pythons", "benchmark_dir",
           "show_commit_url")

# asv's default uninstall, which histbench keeps when an install_command installs into
# the environment (pip would otherwise skip a commit whose version number did not change)
ASV_UNINSTALL = "return-code=any python -mpip uninstall -y {project}"


# -- reading ---------------------------------------------------------------------------------


def is_asv_conf(path: Path) -> bool:
    return Path(path).name.endswith(ASV_CONF_NAME)


def strip_comments(text: str) -> str:
    """JSON with asv's extras removed: ``//`` and ``/* */`` comments outside strings (asv
    reads its config with json5) and trailing commas before ``]`` or ``}``. Comments become
    spaces, newlines kept, so a JSON error still names the right line."""
    return _outside_strings(_outside_strings(text, _comment), _trailing_comma)


def _outside_strings(text: str, step: Callable[[str, int], tuple[str, int] | None]) -> str:
    """``text`` with its JSON strings kept as they are, and at every other position
    ``step(text, i)``: a (replacement, next index), or None to keep the character."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
            continue
        done = step(text, i)
        if done is None:
            out.append(text[i])
            i += 1
        else:
            out.append(done[0])
            i = done[1]
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index just past the JSON string that opens at ``start`` (escapes skipped)."""
    j = start + 1
    while j < len(text) and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _comment(text: str, i: int) -> tuple[str, int] | None:
    """A comment at ``i`` as spaces (its newlines kept), up to where it ends."""
    if text.startswith("//", i):
        j = text.find("\n", i)
        j = len(text) if j < 0 else j
        return " " * (j - i), j
    if text.startswith("/*", i):
        j = text.find("*/", i + 2)
        j = len(text) if j < 0 else j + 2
        return re.sub(r"[^\n]", " ", text[i:j]), j
    return None


def _trailing_comma(text: str, i: int) -> tuple[str, int] | None:
    """A comma with only whitespace before the ``]`` or ``}`` that follows: a space."""
    if text[i] != ",":
        return None
    j = i + 1
    while j < len(text) and text[j] in " \t\r\n":
        j += 1
    return (" ", i + 1) if j < len(text) and text[j] in "]}" else None


def read_asv_conf(path: Path) -> dict[str, Any]:
    """asv.conf.json as a dict; every problem is one line naming the file."""
    try:
        text = read_document_bytes(Path(path), "asv config").decode("utf-8")
    except UnicodeDecodeError:
        raise HistbenchError(f"{path}: not valid JSON (not UTF-8 text)") from None
    try:
        data = json.loads(strip_comments(text))
    except json.JSONDecodeError as exc:
        raise HistbenchError(f"{path}: not valid JSON, even with // comments allowed "
                             f"(line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise HistbenchError(f"{path}: not an asv config (nested too deeply)") from None
    if not isinstance(data, dict):
        raise HistbenchError(f"{path}: the config must be a JSON object")
    return data


# -- translating -----------------------------------------------------------------------------


@dataclass
class Translation:
    """What histbench.json would say, and the warning lines about what does not carry over."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def translate(path: Path) -> Translation:
    path = Path(path)
    asv = read_asv_conf(path)

    def fail(key: str, why: str) -> HistbenchError:
        return HistbenchError(f"{path}: key '{key}' {why}")

    data: dict[str, Any] = {k: asv[k] for k in _PASSED if k in asv}
    warnings: list[str] = []
    dvcs = asv.get("dvcs") or "git"
    if dvcs != "git":
        raise fail("dvcs", f"is {dvcs!r}: histbench benchmarks git repositories only")
    if asv.get("repo_subdir"):
        raise fail("repo_subdir", "is not supported: histbench builds the project at the "
                                  "repository's root")
    env_type = asv.get("environment_type") or ""
    if not isinstance(env_type, str):
        raise fail("environment_type", "must be a string")
    if env_type in CONDA_LIKE:
        lost = [k for k in ("conda_channels", "conda_environment_file") if k in asv]
        warnings.append(
            f"warning: {path.name}: environment_type '{env_type}' runs as 'virtualenv': "
            "matrix packages come from PyPI through pip, not conda (lost: non-Python conda "
            f"packages{''.join(', ' + k for k in lost)}); each python must be installed "
            "already; set environment_type 'uv' in histbench.json for faster environments")
    elif env_type not in ("", "virtualenv"):
        raise fail("environment_type", f"is {env_type!r}: histbench makes virtualenv or uv "
                                       "environments (conda and mamba are run as virtualenv)")
    if "matrix" in asv:
        try:
            data["matrix"] = normalize_matrix(asv["matrix"])
        except ValueError as exc:
            raise fail("matrix", str(exc)) from None
    for key in ("exclude", "include"):
        if key in asv:
            data[key] = _fix_environment_type(path, key, asv[key], env_type)
    ignored = _translate_commands(path, asv, data)
    if "default_benchmark_timeout" in asv:
        data["default_timeout"] = asv["default_benchmark_timeout"]
    if "regressions_thresholds" in asv:
        data["thresholds"] = _thresholds(path, asv["regressions_thresholds"])
    data.update(OWN_DIRS_BESIDE_ASV)
    ignored = sorted(k for k in asv if k not in _USED
                     and not (env_type in CONDA_LIKE and k.startswith("conda_"))) + ignored
    if ignored:
        warnings.append(f"warning: {path.name}: ignored, no meaning to histbench: "
                        f"{', '.join(ignored)}")
    return Translation(data, warnings)


def _fix_environment_type(path: Path, key: str, rules: Any, env_type: str) -> Any:
    """Rules naming an environment_type are decided here, against asv's type (a rule for
    'conda' still applies once conda is run as virtualenv): the key is dropped from a rule
    it matches, and a rule it does not match is dropped."""
    if not isinstance(rules, list):
        return rules  # config.py says what is wrong
    kept = []
    for rule in rules:
        if isinstance(rule, dict) and "environment_type" in rule:
            want = rule["environment_type"]
            try:
                matches = _matches(want, env_type or "virtualenv")
            except re.error as exc:
                raise HistbenchError(f"{path}: key '{key}' has a bad environment_type regex "
                                     f"{want!r} ({exc})") from None
            if not matches:
                continue
            rule = {k: v for k, v in rule.items() if k != "environment_type"}
        kept.append(rule)
    return kept


def _thresholds(path: Path, value: Any) -> Any:
    """asv takes the largest threshold of every matching regex, matched from the start of
    the name; histbench the first that matches anywhere: anchored and ordered largest first,
    the two agree."""
    if not isinstance(value, dict):
        return value  # config.py says what is wrong
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise HistbenchError(f"{path}: key 'regressions_thresholds' entry '{bad[0]}' must be "
                             "a number")
    ordered = sorted(value.items(), key=lambda kv: -kv[1])
    return {(k if k.startswith("^") else f"^(?:{k})"): v for k, v in ordered}


def _commands(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return value if isinstance(value, list) else None


def _translate_commands(path: Path, asv: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """asv's stock commands become histbench's own build and install (a PEP 517 build into
    the wheel cache, unpacked beside the environment); anything else is kept verbatim, and
    runs as asv would run it (prefixes, placeholders, no shell). Returns what is ignored."""
    for key in ("build_command", "install_command", "uninstall_command"):
        if key in asv and _commands(asv[key]) is None:
            raise HistbenchError(f"{path}: key '{key}' must be a list of strings or a string")
        if key in asv and not all(isinstance(c, str) for c in _commands(asv[key]) or []):
            raise HistbenchError(f"{path}: key '{key}' must be a list of strings or a string")
    build = _commands(asv.get("build_command"))
    if build and not is_stock_build(build):
        data["build_command"] = build
    install = _commands(asv.get("install_command"))
    uninstall = _commands(asv.get("uninstall_command"))
    if install and not is_stock_install(install):
        data["install_command"] = install
        data["uninstall_command"] = uninstall if uninstall is not None else [ASV_UNINSTALL]
    elif uninstall and not all(_normal(c) == _normal(ASV_UNINSTALL) for c in uninstall):
        return ["uninstall_command (histbench's own install leaves the environment as it is)"]
    return []


def _normal(command: str) -> list[str]:
    """A command's words without asv's prefixes, ``-m pip`` spelled ``-mpip``."""
    try:
        words = split_prefixes(shlex.split(command)).argv
    except ValueError:  # not shell syntax, or bad prefixes (PrefixError): compared as is
        return [command]
    joined = " ".join(words)
    joined = re.sub(r"-m (pip|build)\b", r"-m\1", joined)
    return joined.split()


_PIP_WHEEL_FLAGS = {"--no-deps", "--no-index", "--no-build-isolation", "-q", "--quiet", "-v"}


def is_stock_build(commands: list[str]) -> bool:
    """asv's default build commands (any of its versions): ``python setup.py build`` or
    ``python -m build``, then ``pip wheel`` of the build folder into the build cache."""
    saw_wheel = False
    for command in commands:
        words = _normal(command)
        if words in (["python", "setup.py", "build"], ["python", "-mbuild"]):
            continue
        if (words[:3] == ["python", "-mpip", "wheel"] and words[-3:] ==
                ["-w", "{build_cache_dir}", "{build_dir}"]
                and set(words[3:-3]) <= _PIP_WHEEL_FLAGS):
            saw_wheel = True
            continue
        return False
    return saw_wheel


def is_stock_install(commands: list[str]) -> bool:
    """asv's default install: pip install of the build's one wheel."""
    if len(commands) != 1:
        return False
    words = _normal(commands[0])
    return (words[:3] == ["python", "-mpip", "install"] and words.count("{wheel_file}") == 1
            and set(words[3:]) - {"{wheel_file}"} <= _PIP_INSTALL_FLAGS)


_PIP_INSTALL_FLAGS = {"--force-reinstall", "--no-deps", "--upgrade", "-U", "-q", "--quiet", "-v"}


# -- asv's folders, kept apart from histbench's ----------------------------------------------


def asv_folders(asv_path: Path) -> dict[str, Path]:
    """Where asv writes for this asv.conf.json (its defaults where it names none, and where
    it cannot be read)."""
    try:
        asv = read_asv_conf(asv_path)
    except HistbenchError:
        asv = {}
    root = Path(asv_path).resolve().parent
    found = {}
    for key, default in ASV_DIR_DEFAULTS.items():
        value = asv.get(key) if isinstance(asv.get(key), str) and asv.get(key) else default
        found[key] = (root / value).resolve()
    return found


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def clash(own: dict[str, Path], asv_path: Path, config_path: Path) -> str | None:
    """Why histbench's folders (``own``: key -> path) cannot be used beside the asv config
    at ``asv_path``, as one line, or None: a folder that is one of asv's, inside one, or
    holding one (asv publish wipes its html folder; asv reads every folder of its results
    folder as a machine)."""
    theirs = asv_folders(asv_path)
    root = Path(config_path).resolve().parent
    for key, mine in own.items():
        mine = Path(mine).resolve()
        for asv_key, other in theirs.items():
            if not _overlap(mine, other):
                continue
            how = ("is" if mine == other else "is inside" if other in mine.parents
                   else "holds")
            suggestion = _suggest(key, root, theirs.values())
            fix = (f"set {key} to another folder, e.g. \"{suggestion}\"")
            if is_asv_conf(config_path):
                fix = (f"run `histbench init` and set {key} in histbench.json to another "
                       f"folder, e.g. \"{suggestion}\"")
            return (f"{config_path}: {key} {_show(mine, root)} {how} asv's {asv_key} "
                    f"{_show(other, root)} ({Path(asv_path).name}): the two tools would "
                    f"overwrite each other's files; {fix}")
    return None


def _show(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _suggest(key: str, root: Path, theirs: Iterable[Path]) -> str:
    base = OWN_DIRS_BESIDE_ASV.get(key, ".histbench")
    theirs = list(theirs)
    for i in range(1, 100):
        name = base if i == 1 else f"{base}-{i}"
        if not any(_overlap((root / name).resolve(), t) for t in theirs):
            return name
    return base


# -- the matrix ------------------------------------------------------------------------------


def normalize_matrix(matrix: Any) -> dict[str, dict[str, list[str | None]]]:
    """asv's matrix in its grouped form, every value a list (``[]`` is ``[""]``, the latest
    version; a bare value is a list of one); the old flat form is all requirements. Raises
    ValueError with what is wrong."""
    if not isinstance(matrix, dict):
        raise ValueError("must be an object")
    if any(t in matrix for t in MATRIX_TYPES):
        extra = [k for k in matrix if k not in MATRIX_TYPES]
        if extra:
            raise ValueError(f"has an unknown entry '{extra[0]}' (known: "
                             f"{', '.join(MATRIX_TYPES)})")
        groups = {t: matrix[t] for t in MATRIX_TYPES if t in matrix}
    else:
        groups = {"req": matrix} if matrix else {}
    result: dict[str, dict[str, list[str | None]]] = {}
    for kind, entries in groups.items():
        if not isinstance(entries, dict):
            raise ValueError(f"entry '{kind}' must be an object of name: [values]")
        result[kind] = {}
        for name, values in entries.items():
            values = values if isinstance(values, list) else [values]
            if not all(v is None or isinstance(v, str) for v in values):
                raise ValueError(f"'{kind}' entry '{name}' must be a list of strings or null")
            if kind != "req" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"'{kind}' entry '{name}' is not an environment variable name")
            result[kind][name] = list(values) or [""]
    return result


def parse_rule(rule: Any, *, include: bool = False) -> dict[tuple[str, str | None], Any]:
    """An exclude or include rule as {(type, name): value}: python, environment_type and
    sys_platform have no name; req, env and env_nobuild entries do (a rule without those
    groups names requirements directly, asv's old form). Raises ValueError."""
    what = "include" if include else "exclude"
    if not isinstance(rule, dict):
        raise ValueError(f"each {what} rule must be an object")
    if include and not isinstance(rule.get("python"), str):
        raise ValueError(f"include rule {json.dumps(rule)} must name its python")
    parsed: dict[tuple[str, str | None], Any] = {}
    rest = dict(rule)
    for key in RULE_BARE_KEYS:
        if key in rest:
            parsed[key, None] = rest.pop(key)
    if any(t in rest for t in MATRIX_TYPES):
        extra = [k for k in rest if k not in MATRIX_TYPES]
        if extra:
            raise ValueError(f"{what} rule has an unknown key '{extra[0]}'")
        groups = rest
    else:
        groups = {"req": rest} if rest else {}
    for kind, entries in groups.items():
        if not isinstance(entries, dict):
            raise ValueError(f"{what} rule entry '{kind}' must be an object")
        for name, value in entries.items():
            parsed[kind, name] = value
    for key, value in parsed.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{what} rule value for '{key[1] or key[0]}' must be a string "
                             "or null")
        if value is not None and (not include or key[0] in RULE_BARE_KEYS[1:]):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{what} rule regex {value!r} is not valid ({exc})") from None
    return parsed


def _matches(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return value is None
    return value is not None and re.fullmatch(pattern, value) is not None


def _rule_matches(target: dict, rule: dict) -> bool:
    """asv's rule: every entry matches; a regex matches the whole value; null matches an
    absent or null value only."""
    return all(_matches(value, target.get(key)) for key, value in rule.items())


@dataclass(frozen=True)
class Combination:
    """One environment of the matrix: its python, requirements (histbench specs, None for
    a package not to install) and environment variables (every one for the benchmarks,
    ``build_env_vars`` also for builds and installs)."""

    python: str
    requirements: tuple[tuple[str, str | None], ...] = ()
    env_vars: tuple[tuple[str, str], ...] = ()
    build_env_vars: tuple[tuple[str, str], ...] = ()


def combinations(pythons: list[str], matrix: dict, exclude: list, include: list,
                 environment_type: str, platform: str) -> list[Combination]:
    """Every environment asv would make: each python with the cartesian product of the
    matrix, less what an exclude rule matches, plus every include whose platform keys match
    (exclude rules do not apply to includes); duplicates once, in order."""
    keys = [(kind, name) for kind in MATRIX_TYPES for name in matrix.get(kind, {})]
    values = [matrix[kind][name] for kind, name in keys]
    platform_keys = {("environment_type", None): environment_type,
                     ("sys_platform", None): platform}
    excludes = [parse_rule(r) for r in exclude]
    found: list[Combination] = []
    for python in pythons:
        for combo in itertools.product(*values):
            chosen = dict(zip(keys, combo, strict=True))
            target = {("python", None): python, **chosen, **platform_keys}
            if not any(_rule_matches(target, rule) for rule in excludes):
                found.append(_combination(python, chosen))
    for rule in include:
        parsed = parse_rule(rule, include=True)
        condition = {k: parsed.pop(k) for k in list(parsed) if k in platform_keys}
        if _rule_matches(platform_keys, condition):
            python = parsed.pop(("python", None))
            found.append(_combination(python, parsed))
    return list(dict.fromkeys(found))


def _combination(python: str, chosen: dict[tuple[str, str | None], Any]) -> Combination:
    reqs, env, build = [], [], []
    for (kind, name), value in chosen.items():
        if kind == "req":
            reqs.append((_package(name), None if value is None else requirement_spec(value)))
        elif value is not None:
            env.append((name, value))
            if kind == "env":
                build.append((name, value))
    return Combination(python, tuple(sorted(reqs)), tuple(sorted(env)), tuple(sorted(build)))


def _package(name: str) -> str:
    """asv's ``pip+name`` (pip rather than conda) is just the name here: all is pip."""
    return name[4:] if name.startswith("pip+") else name


def requirement_spec(version: str) -> str:
    """asv's matrix value as a histbench requirement spec: "" the latest, a version pinned
    exactly, a specifier (``>=2``) as it is, a URL or absolute path as a direct reference."""
    version = version.strip()
    if not version or version[0] in "<>=!~":
        return version
    if "://" in version:
        return f" @ {version}"
    if version.startswith("/"):
        return f" @ {Path(version).as_uri()}"
    return f"=={version}"
