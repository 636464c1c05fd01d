"""Importing a benchmark suite and reading its asv attributes.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

PACKAGE_ALIAS = "_histbench_suite"
KINDS = ("timeraw", "time", "mem", "peakmem", "track")


def load_suite_package(benchmark_dir: str) -> types.ModuleType:
    """Import the benchmark folder as a package without putting its parent on sys.path.

    Putting the parent on sys.path (the easy way) would let the project's *working tree*
    shadow the commit installed in the environment, so every commit would measure the same
    code. A package with an explicit ``__path__`` keeps relative imports working instead.
    """
    if PACKAGE_ALIAS in sys.modules:
        return sys.modules[PACKAGE_ALIAS]
    init = os.path.join(benchmark_dir, "__init__.py")
    if os.path.exists(init):
        spec = importlib.util.spec_from_file_location(
            PACKAGE_ALIAS, init, submodule_search_locations=[benchmark_dir]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE_ALIAS] = module
        spec.loader.exec_module(module)
    else:
        module = types.ModuleType(PACKAGE_ALIAS)
        module.__path__ = [benchmark_dir]
        sys.modules[PACKAGE_ALIAS] = module
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
    load_suite_package(benchmark_dir)
    return importlib.import_module(PACKAGE_ALIAS + "." + module_name)


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
