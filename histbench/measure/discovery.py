"""``worker.py discover``: describe every benchmark of a suite, as asv would see it.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import textwrap

from . import failures as _failures
from . import suite_import as _suite
from . import worker_spec as _spec

DEFAULTS = _spec.DEFAULTS
DEFAULT_UNITS = {
    "time": "seconds",
    "timeraw": "seconds",
    "mem": "bytes",
    "peakmem": "bytes",
    "track": "unit",
}


def discover(spec: _spec.DiscoverSpec) -> dict:
    """Describe the suite; a module that fails to import is an error entry, not a crash."""
    benchmark_dir = os.path.abspath(spec["benchmark_dir"])
    benchmarks, errors = [], []
    try:
        _suite.load_suite_package(benchmark_dir)
        names = _suite.module_names(benchmark_dir)
    except BaseException as exc:  # noqa: BLE001 - a broken __init__ is reported, not raised
        return {"benchmarks": [], "errors": [_import_error(benchmark_dir, exc)]}
    for module_name in names:
        path = os.path.join(benchmark_dir, *module_name.split(".")) + ".py"
        try:
            module = _suite.import_suite_module(benchmark_dir, module_name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is an error too
            errors.append(_import_error(path, exc))
            continue
        for suffix, func, cls in _iter_benchmarks(module):
            try:
                benchmarks.append(_describe(module_name, module, suffix, func, cls))
            except Exception as exc:
                errors.append({"file": path, "benchmark": f"{module_name}.{suffix}",
                               "error": _failures.one_line(exc),
                               "traceback": _failures.traceback_tail()})
    return {"benchmarks": benchmarks, "errors": errors}


def _import_error(path: str, exc: BaseException) -> dict:
    return {"file": path, "benchmark": None, "error": _failures.one_line(exc),
            "traceback": _failures.traceback_tail()}


def _iter_benchmarks(module):
    """Yield (qualified suffix, function, class) for every benchmark in a module."""
    for attr_name, value in sorted(vars(module).items()):
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for meth_name in sorted(dir(value)):
                if _suite.kind_of(meth_name) is None:
                    continue
                meth = getattr(value, meth_name)
                if callable(meth):
                    yield f"{attr_name}.{meth_name}", meth, value
        elif _suite.kind_of(attr_name) and inspect.isfunction(value):
            if value.__module__ == module.__name__:
                yield attr_name, value, None


def _describe(module_name: str, module, suffix: str, func, cls) -> dict:
    kind = _suite.kind_of(suffix.rsplit(".", 1)[-1])
    params = _suite.normalize_params(_suite.lookup("params", func, cls, module))
    names = _suite.lookup("param_names", func, cls, module)
    names = list(names) if names else [f"param{i + 1}" for i in range(len(params))]
    if len(names) != len(params):
        raise ValueError(f"param_names has {len(names)} names for {len(params)} params")
    setup = _suite.lookup("setup", None, cls, module)
    teardown = _suite.lookup("teardown", None, cls, module)
    setup_cache = _suite.lookup("setup_cache", None, cls, module)
    code = _source(func)
    version = _suite.lookup("version", func, cls, module)
    if version is None:
        pieces = [code] + [_source(f) for f in (setup, teardown, setup_cache) if f]
        version = hashlib.sha256("\n".join(pieces).encode()).hexdigest()
    rounds = DEFAULTS["rounds"]
    for owner in (module, cls, func):  # nearest owner wins; `processes` is asv's old name
        for attr in ("processes", "rounds"):
            if owner is not None and attr in _own_attrs(owner):
                rounds = getattr(owner, attr)
    info = {
        "name": f"{module_name}.{suffix}",
        "module": module_name,
        "kind": kind,
        "params": [[repr(v) for v in p] for p in params],
        "param_names": names,
        "unit": _suite.lookup("unit", func, cls, module, DEFAULT_UNITS[kind]),
        "pretty_name": _suite.lookup("pretty_name", func, cls, module),
        "version": str(version),
        "higher_is_better": bool(_suite.lookup("higher_is_better", func, cls, module, False)),
        "code": code,
        "rounds": int(rounds),
        "setup_cache_key": None,
        "setup_cache_timeout": None,
    }
    for key in ("timeout", "number", "repeat", "warmup_time", "sample_time", "min_run_count"):
        value = _suite.lookup(key, func, cls, module)
        if key == "repeat" and isinstance(value, (list, tuple)):
            value = list(value)
        info[key] = value if value is not None else DEFAULTS[key]
    if setup_cache is not None:
        owner = cls.__name__ if cls is not None and "setup_cache" in _class_dict(cls) else ""
        info["setup_cache_key"] = f"{module_name}:{owner}:{_lineno(setup_cache)}"
        info["setup_cache_timeout"] = getattr(setup_cache, "timeout", None)
    return info


def _source(obj) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return ""


def _own_attrs(owner) -> dict:
    return _class_dict(owner) if inspect.isclass(owner) else getattr(owner, "__dict__", {})


def _class_dict(cls) -> dict:
    merged: dict = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass))
    return merged


def _lineno(func) -> int:
    try:
        return inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return 0
