"""The module paths histbench had before its layers got folders (``histbench.stats``,
``histbench.detect``, ...), kept importable so that scripts written against docs/api.md
before the move keep working: each old path is the moved module itself, not a copy."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

# old module -> where it lives now
MOVED = {
    "errors": "core.errors", "config": "core.config", "processes": "core.parallel",
    "text": "core.formatting",
    "worker": "measure.worker", "disturbance": "measure.disturbance",
    "pep517_build": "measure.pep517_build",
    "results": "store.results", "summary": "store.samples", "machine": "store.machine",
    "asv_import": "store.asv_import",
    "suite": "run.suite", "execute": "run.rounds", "gitrepo": "run.git",
    "environments": "run.environments", "runner": "run.history_runner",
    "progress": "run.progress",
    "stats": "analysis.two_sample", "detect": "analysis.steps", "history": "analysis.series",
    "compare": "analysis.run_diff", "regressions": "analysis.changes",
    "bisect": "analysis.bisect", "pick": "analysis.name_match", "metrics": "analysis.metrics",
    "variants": "analysis.variants", "step_hints": "analysis.bisect_hints",
    "site_model": "site.model", "commit_rows": "site.commit_rows", "plots": "site.plots",
    "sparklines": "site.sparklines", "publish": "site.publisher",
    "cli_analysis": "cli.loading", "tables": "cli.tables",
    "report": "cli.variant_report",
}


class _Both(types.ModuleType):
    """An old module path that is also a public function's name (``histbench.compare`` was
    the run-diff module; ``histbench.compare`` is now the two-sample test): attributes come
    from the module, a call goes to the function, so both old and new uses work."""

    def __init__(self, name: str, module: types.ModuleType, function):
        super().__init__(name, module.__doc__)
        self.__dict__["_module"] = module
        self.__dict__["_function"] = function

    def __getattr__(self, attr: str):
        return getattr(self.__dict__["_module"], attr)

    def __call__(self, *args, **kwargs):
        return self.__dict__["_function"](*args, **kwargs)


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of an old path with the module at its new one."""

    def __init__(self, package: str, functions: dict[str, object]):
        self.package = package
        self.functions = functions  # old module name -> callable sharing that name
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, old = fullname.rpartition(".")
        if prefix != self.package or old not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        old = spec.name.rpartition(".")[2]
        module = importlib.import_module(f"{self.package}.{MOVED[old]}")
        if old in self.functions:
            return _Both(spec.name, module, self.functions[old]())
        self._specs[spec.name] = module.__spec__  # the import system overwrites it
        return module

    def exec_module(self, module):
        spec = self._specs.pop(module.__spec__.name, None)
        if spec is not None:
            module.__spec__ = spec


def install(package: str, functions: dict[str, object]) -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder(package, functions))
