"""One benchmark of a suite bound to one parameter set: what the run modes measure.

Standard library only: loaded by path beside worker.py in old commits' environments.
"""

from __future__ import annotations

import itertools
import os
import pickle

from . import failures as _failures
from . import suite_import as _suite
from . import worker_spec as _spec

# The folder the parent started this worker in. A benchmark may change folder (os.chdir
# in a setup or a timed call); the next sample and parameter set must still start here.
START_FOLDER = os.getcwd()


def back_to_start_folder() -> None:
    try:
        if os.getcwd() == START_FOLDER:
            return
    except OSError:  # the benchmark removed the folder it was in
        pass
    try:
        os.chdir(START_FOLDER)
    except OSError:  # it removed ours too: nothing relative is used, so go on
        pass


class BenchmarkInstance:
    """One benchmark bound to one parameter set, with its setup/teardown."""

    def __init__(self, benchmark_dir: str, name: str, index: int, cache_file: str | None):
        func, cls, module = resolve(benchmark_dir, name)
        self.kind = _suite.kind_of(name.rsplit(".", 1)[-1])
        combos = _param_sets(func, cls, module)
        if not 0 <= index < len(combos):
            raise _failures.BenchmarkFailed(
                f"parameter index {index} out of range ({len(combos)} sets)")
        self.args: tuple = combos[index]
        if cache_file:
            with open(cache_file, "rb") as f:
                self.args = (pickle.load(f),) + tuple(self.args)
        owner = cls() if cls is not None else None
        self.func = getattr(owner, func.__name__) if owner is not None else func
        # asv_runner's attribute sources: the (bound) function, the class instance, the
        # module. Every setup hook found there runs, the module's first; every teardown
        # hook, the module's last (Benchmark.__init__: _setups, _teardowns).
        sources = [s for s in (self.func, owner, module) if s is not None]
        self.setups = _hooks(sources, "setup")[::-1]
        self.teardowns = _hooks(sources, "teardown")
        self.module, self.cls, self.owner, self.raw_func = module, cls, owner, func

    @property
    def has_setup(self) -> bool:
        """Setup hooks exist: then every timed call gets a freshly set-up fixture."""
        return bool(self.setups)

    def attr(self, key: str, default=None):
        """Looked up on the class *instance*, as asv does: a setup that sets
        ``self.number`` (say, per parameter) is seen by the timing that follows it."""
        owner = self.owner if self.owner is not None else self.cls
        return _suite.lookup(key, self.raw_func, owner, self.module, default)

    def setting(self, key: str):
        """A timing attribute, or the default discovery reports for it."""
        return self.attr(key, _spec.DEFAULTS[key])

    def do_setup(self) -> None:
        try:
            for setup in self.setups:
                setup(*self.args)
        except NotImplementedError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise _failures.Skipped(f"setup raised NotImplementedError{detail}") from None

    def do_teardown(self) -> None:
        for teardown in self.teardowns:
            teardown(*self.args)

    def call(self):
        return self.func(*self.args)


def resolve(benchmark_dir: str, name: str):
    """Find (function, class, module) for a benchmark name such as ``mod.Class.time_x``."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = _suite.import_suite_module(benchmark_dir, module_name)
        except ModuleNotFoundError as exc:
            if _suite.is_missing_suite_module(exc, module_name):
                continue
            raise
        rest = parts[split:]
        if len(rest) == 1:
            return getattr(module, rest[0]), None, module
        if len(rest) == 2:
            cls = getattr(module, rest[0])
            return getattr(cls, rest[1]), cls, module
    raise _failures.BenchmarkFailed(f"no benchmark named {name!r}")


def _param_sets(func, cls, module) -> list[tuple]:
    params = _suite.normalize_params(_suite.lookup("params", func, cls, module))
    if not params:
        return [()]
    return list(itertools.product(*params))


def _hooks(sources: list, name: str) -> list:
    """The hooks called ``name`` in any letter case (asv: ``setUp`` is a setup too), one
    per source at most, in the sources' order. Unlike asv, a value that cannot be called
    (a module's ``SETUP = "import x"`` string for timeit) is not a hook."""
    found = []
    for source in sources:
        matches = [getattr(source, key, None) for key in dir(source) if key.lower() == name]
        matches = [m for m in matches if callable(m)]
        if len(matches) > 1:
            raise _failures.BenchmarkFailed(
                f"{getattr(source, '__name__', source)!s:.80} has more than one {name} hook")
        found.extend(matches)
    return found


def bound(func, owner):
    """``func`` as the benchmark class's instance ``owner`` has it, if it has it."""
    if func is None:
        return None
    if owner is not None and hasattr(owner, func.__name__):
        return getattr(owner, func.__name__)
    return func
