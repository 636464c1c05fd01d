"""Importing a benchmark suite and reading its asv attributes.

Standard library only: loaded by path beside worker.py in old commits' environments.

The suite is imported the way asv imports it: as a package named after the benchmark
folder's basename (``benchmarks/`` becomes ``benchmarks``), so that a suite file can import
its siblings relatively (``from .utils import x``) or absolutely (``from benchmarks.utils
import x``). Benchmark names stay relative to the suite (``bench_a.Suite.time_x``), as in
asv. Unlike the easy way, the folder's *parent* never goes on sys.path: it is usually the
project's working tree, which would shadow the commit installed in the environment.

Name collisions, decided as asv decides them where asv can decide at all:

* an installed but not yet imported module of the same name (a wheel that ships its own
  ``benchmarks`` package, say) is shadowed by the suite, as asv's importer, first on
  ``sys.meta_path``, shadows it;
* a name that cannot be shadowed safely -- one already imported in this process, one of the
  standard library's, or one with a dot (not a top-level name at all) -- is not taken: the
  suite is imported under ``FALLBACK_NAME`` instead. Its benchmarks keep their names and
  its relative imports work; only absolute self-imports cannot (under asv such a suite
  does not load at all);
* a basename that is not an identifier (``asv-bench``) is used as it is, as asv uses it:
  relative imports work, and nothing can spell an absolute one anyway.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types

FALLBACK_NAME = "_histbench_suite"
# The package name the suite is registered under in this process (set by
# load_suite_package; the fallback until then). instance.resolve reads it to tell a missing
# suite module from a failing import: prefer is_missing_suite_module.
PACKAGE_ALIAS = FALLBACK_NAME
KINDS = ("timeraw", "time", "mem", "peakmem", "track")

_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))


def package_name_for(benchmark_dir: str) -> str:
    """The name the suite folder is imported under: its basename, unless that is unsafe."""
    benchmark_dir = os.path.abspath(benchmark_dir)
    name = os.path.basename(benchmark_dir)
    if not name or "." in name:
        return FALLBACK_NAME
    loaded = sys.modules.get(name)
    if loaded is not None:
        return name if _is_suite_package(loaded, benchmark_dir) else FALLBACK_NAME
    return FALLBACK_NAME if _in_standard_library(name) else name


def _is_suite_package(module: types.ModuleType, benchmark_dir: str) -> bool:
    return list(getattr(module, "__path__", None) or []) == [benchmark_dir]


def _in_standard_library(name: str) -> bool:
    """Whether a top-level name is the standard library's (found without importing it)."""
    if name in sys.builtin_module_names:
        return True
    stdlib_names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    if stdlib_names is not None:
        return name in stdlib_names
    if name == "test":  # CPython's own tests: not in stdlib_module_names either
        return False
    try:
        spec = importlib.machinery.PathFinder.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) if spec is not None else None
    if spec is not None and not origin and spec.submodule_search_locations:
        origin = list(spec.submodule_search_locations)[0]
    if not origin or origin in ("built-in", "frozen"):
        return bool(origin)
    origin = os.path.abspath(origin)
    parts = origin.split(os.sep)
    return (origin.startswith(_STDLIB_DIR + os.sep)
            and "site-packages" not in parts and "dist-packages" not in parts)


def load_suite_package(benchmark_dir: str) -> types.ModuleType:
    """Import the benchmark folder as a package of its own name, without putting its parent
    on sys.path: the package gets an explicit ``__path__`` (the folder alone), so relative
    and absolute self-imports reach the suite and nothing else of the working tree.

    With an ``__init__.py`` that file runs as the package's; without one the package is
    empty, like the namespace package asv's import would make of the folder.
    """
    global PACKAGE_ALIAS
    benchmark_dir = os.path.abspath(benchmark_dir)
    name = package_name_for(benchmark_dir)
    loaded = sys.modules.get(name)
    if loaded is not None and _is_suite_package(loaded, benchmark_dir):
        PACKAGE_ALIAS = name
        return loaded
    init = os.path.join(benchmark_dir, "__init__.py")
    if os.path.exists(init):
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[benchmark_dir])
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [benchmark_dir]
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [benchmark_dir]
    PACKAGE_ALIAS = name
    sys.modules[name] = module
    if spec.loader is not None:
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)  # a broken __init__ is reported, not left half-made
            raise
    return module


def module_names(benchmark_dir: str) -> list[str]:
    """Dotted names (relative to the suite) of every module, nested packages included."""
    names = []
    for root, dirs, files in os.walk(benchmark_dir):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "__")) and _is_package_dir(root, d)
        )
        rel = os.path.relpath(root, benchmark_dir)
        prefix = "" if rel == "." else rel.replace(os.sep, ".") + "."
        for f in sorted(files):
            if f.endswith(".py") and f != "__init__.py" and not f.startswith("."):
                names.append(prefix + f[:-3])
    return names


def _is_package_dir(root: str, name: str) -> bool:
    return os.path.exists(os.path.join(root, name, "__init__.py"))


def import_suite_module(benchmark_dir: str, module_name: str) -> types.ModuleType:
    """A suite module by its name relative to the suite (``nested.bench_inner``)."""
    package = load_suite_package(benchmark_dir)
    return importlib.import_module(package.__name__ + "." + module_name)


def is_missing_suite_module(exc: ImportError, module_name: str) -> bool:
    """Whether ``exc``, raised by import_suite_module, says that suite module does not
    exist (rather than that something it imports is missing)."""
    missing = getattr(exc, "name", None) or ""
    return missing.startswith(PACKAGE_ALIAS + "." + module_name)


def kind_of(name: str) -> str | None:
    for kind in KINDS:
        if name.startswith(kind + "_"):
            return kind
    return None


def lookup(attr: str, func, cls, module, default=None):
    """asv's lookup order: the function, then its class, then its module."""
    for owner in (func, cls, module):
        if owner is not None and hasattr(owner, attr):
            return getattr(owner, attr)
    return default


def normalize_params(params) -> list[list]:
    """asv accepts a flat list for a single parameter; normalise to a list of lists."""
    if params is None:
        return []
    params = list(params)
    if not params:
        return []
    if not all(isinstance(p, (list, tuple)) for p in params):
        return [params]
    return [list(p) for p in params]
