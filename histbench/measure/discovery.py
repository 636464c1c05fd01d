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
    """Yield (qualified suffix, function, class) for every benchmark in a module.

    As asv: names starting with ``_`` and abstract classes are not looked into. Unlike asv,
    a class or function imported from another module is left to that module (asv would
    report it under both)."""
    for attr_name, value in sorted(vars(module).items()):
        if attr_name.startswith("_"):
            continue
        if inspect.isclass(value) and value.__module__ == module.__name__:
            if inspect.isabstract(value):
                continue
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
    setup_cache = _suite.lookup("setup_cache", None, cls, module)
    code, version = _asv_code_and_version(kind, suffix.rsplit(".", 1)[-1], func, cls, module)
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
        "version": version,
        "legacy_version": _legacy_version(func, cls, module),
        "higher_is_better": bool(_suite.lookup("higher_is_better", func, cls, module, False)),
        "code": code,
        "rounds": int(rounds),
        "measure": _measure_attr(func, cls, module),
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


def _measure_attr(func, cls, module):
    """histbench's ``measure`` attribute ("time" or "instructions"), or None; anything
    else is reported by the parent, which knows the modes."""
    value = _suite.lookup("measure", func, cls, module)
    return None if value is None else str(value)


def _asv_code_and_version(kind: str, attr_name: str, func, cls, module) -> tuple[str, str]:
    """asv's ``code`` and ``version`` of a benchmark, so that histories continue across
    asv and histbench. asv_runner (benchmarks/_base.py, ``Benchmark.__init__``):

    * attribute sources: ``[function, module]``, or for a method ``[bound method, instance
      of the class, module]`` (discovery.py, ``_get_benchmark``, which instantiates the
      class);
    * ``code``: ``get_source_code`` of the benchmark, then every ``setup`` (matched case-
      insensitively, one per source, module's first), then the first ``setup_cache``;
      teardown and params are not part of it;
    * ``version``: the first ``version`` attribute that is not None, as ``str``; else the
      SHA-256 of ``code`` (UTF-8); for ``timeraw_`` with an ``env`` mapping the hash also
      covers the mapping (benchmarks/timeraw.py, ``TimerawBenchmark.__init__``).
    """
    if cls is None:
        bench, sources = func, [func, module]
    else:
        owner = cls()  # as asv's discovery does: a class it cannot make is not discovered
        bench = getattr(owner, attr_name)
        sources = [bench, owner, module]
    setups = [f for f in (_one_attr_any_case(s, "setup") for s in sources) if f is not None]
    setup_cache = _first_attr(sources, "setup_cache")
    code = _asv_source([bench] + setups[::-1] + [setup_cache])
    explicit = _first_attr(sources, "version")
    if explicit is not None:
        return code, str(explicit)
    payload = code
    if kind == "timeraw":
        env = _timeraw_env(_first_attr(sources, "env"))
        if env:
            payload = code + "\n# timeraw_env\n" + repr(sorted(env.items()))
    return code, hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _first_attr(sources, name: str):
    for source in sources:
        value = getattr(source, name, None)
        if value is not None:
            return value
    return None


def _one_attr_any_case(source, name: str):
    found = [getattr(source, key) for key in dir(source) if key.lower() == name]
    if len(found) > 1:
        raise ValueError(f"{getattr(source, '__name__', source)!s} contains multiple "
                         f"{name} functions")
    return found[0] if found else None


def _timeraw_env(env) -> dict | None:
    """A timeraw ``env`` attribute as asv validates it: a dict of str to str, or None."""
    if env is None:
        return None
    if not isinstance(env, dict):
        raise TypeError(f"timeraw benchmark attribute 'env' must be a dict, got {type(env)!r}")
    for key, value in env.items():
        if value is None:
            raise TypeError(f"timeraw env values must not be None (key {key!r})")
    return {str(k): str(v) for k, v in env.items()} or None


def _asv_source(items) -> str:
    """The sources of ``items`` as asv's ``get_source_code`` joins them: each dedented with
    its lines' trailing blanks stripped, a method under a ``class Name:`` line (one line for
    consecutive methods of the same class), blank-line separated."""
    pieces, previous = [], None
    for item in items:
        if hasattr(item, "pretty_source"):
            text = textwrap.dedent(item.pretty_source).lstrip()
        else:
            try:
                lines = inspect.getsourcelines(item)[0]
            except (OSError, TypeError):  # None, or no source: asv cannot hash it either
                continue
            if not lines:
                continue
            text = textwrap.dedent("\n".join(line.rstrip() for line in lines))
        class_name = None
        if inspect.ismethod(item):
            if hasattr(item, "im_class"):
                class_name = item.im_class.__name__
            else:
                qualified = getattr(item, "__qualname__", "").split(".")
                class_name = qualified[-2] if len(qualified) > 1 else None
        if class_name and class_name != previous:
            text = f"class {class_name}:\n    " + text.replace("\n", "\n    ")
        elif class_name:
            text = "    " + text.replace("\n", "\n    ")
        pieces.append(text)
        previous = class_name
    return "\n\n".join(pieces).rstrip()


def _legacy_version(func, cls, module) -> str:
    """The version histbench gave a benchmark before it took asv's (the hash of the dedented
    sources of the function and of the setup, teardown and setup_cache it looks up, class
    before module). Results stored before the switch carry it: equal to this, they measured
    this same source, so a reader can bridge the one break the switch makes."""
    explicit = _suite.lookup("version", func, cls, module)
    if explicit is not None:
        return str(explicit)
    hooks = [_suite.lookup(attr, None, cls, module)
             for attr in ("setup", "teardown", "setup_cache")]
    pieces = [_source(func)] + [_source(f) for f in hooks if f]
    return hashlib.sha256("\n".join(pieces).encode()).hexdigest()


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
