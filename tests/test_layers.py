"""The architecture, checked: a module's layer is the folder it is in, and imports only flow
one way between layers.

measure (the worker) -> run -> store -> analysis -> cli/site is the order data flows in.
The worker imports nothing of ours (it runs in old commits' envs); storage knows nothing of
how results were made; analysis never imports the runner, so it can be used on results from
anywhere (imports, other machines, the Python API).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "histbench"

LAYER_OF_FOLDER = {
    "measure": "measurement",
    "core": "core",
    "store": "storage",
    "run": "orchestration",
    "analysis": "analysis",
    "site": "presentation",
    "cli": "presentation",
}
ALLOWED = {
    "measurement": {"measurement"},
    "core": {"core"},
    "storage": {"core", "storage"},
    # The runner starts the worker and applies its disturbance rule to what it reports.
    "orchestration": {"core", "storage", "orchestration", "measurement"},
    "analysis": {"core", "storage", "analysis"},
    "presentation": {"core", "storage", "orchestration", "measurement", "analysis",
                     "presentation"},
}
STDLIB_ONLY = "measure"


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:
        return "package"  # __init__ (lazy public API) and __main__
    folder = rel.parts[0]
    assert folder in LAYER_OF_FOLDER, f"histbench/{folder}/ is in no layer: add it here"
    return LAYER_OF_FOLDER[folder]


def target_layer(module: str) -> str:
    """The layer of an imported histbench module path such as histbench.store.results."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    assert parts[1] in LAYER_OF_FOLDER, f"{module} is not in a layer folder"
    return LAYER_OF_FOLDER[parts[1]]


def histbench_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "histbench":
                found |= {f"histbench.{a.name}" for a in node.names if a.name != "__version__"}
            elif node.module.startswith("histbench."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("histbench.")}
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def test_every_module_is_in_a_layer_folder():
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py"}
    for path in modules():
        layer_of(path)


def test_every_import_follows_the_layers():
    problems = []
    for path in modules():
        layer = layer_of(path)
        if layer == "package":
            continue
        for target in histbench_imports(path):
            if target_layer(target) not in ALLOWED[layer]:
                problems.append(f"{path.relative_to(PACKAGE)} ({layer}) imports {target}")
    assert not problems


def test_the_worker_side_imports_only_the_standard_library():
    """measure/ runs under an old commit's Python and packages: nothing third-party, nothing
    of ours, apart from its own folder's constants."""
    for path in (PACKAGE / STDLIB_ONLY).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (path, name)


def test_every_folder_says_what_it_is_for():
    for folder in LAYER_OF_FOLDER:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and len(doc) > 20, folder


@pytest.mark.parametrize("old", sorted(importlib.import_module("histbench.core.moved").MOVED))
def test_old_module_paths_still_import(old):
    from histbench.core.moved import MOVED

    legacy = importlib.import_module(f"histbench.{old}")
    moved = importlib.import_module(f"histbench.{MOVED[old]}")
    public = [n for n in dir(moved) if not n.startswith("_")]
    assert all(getattr(legacy, n) is getattr(moved, n) for n in public)


def test_public_api_is_lazy_and_complete():
    import histbench

    for name in histbench.__all__:
        assert getattr(histbench, name) is not None, name
    # importing the package loads neither numpy nor any layer module
    code = ("import sys, histbench; "
            "print(sorted(m for m in sys.modules if m == 'numpy' or "
            "m.startswith(('histbench.analysis', 'histbench.store', 'histbench.run'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_compare_is_the_two_sample_test_and_the_old_module():
    import histbench.compare as old_module

    import histbench
    from histbench.analysis.run_diff import compare_runs
    from histbench.analysis.two_sample import compare

    assert old_module.compare_runs is compare_runs
    result = old_module([1.0, 1.1, 0.9, 1.0], [2.0, 2.1, 1.9, 2.0])
    assert result.ratio == compare([1.0, 1.1, 0.9, 1.0], [2.0, 2.1, 1.9, 2.0]).ratio
    assert histbench.__getattr__("compare") is compare


def test_tests_import_nothing_from_bench():
    """Test helpers live under tests/; bench/ scripts may import them, not the reverse (a
    comparison script must stay free to change without breaking the suite)."""
    root = Path(__file__).parent
    bench_modules = {p.stem for p in (root.parent / "bench").glob("*.py")}
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [])
            assert not {n.split(".")[0] for n in names} & bench_modules, (path.name, names)


def test_every_path_docs_api_names_resolves():
    """docs/api.md is the API's promise: each dotted name it gives must import or resolve."""
    import re

    text = (PACKAGE.parent / "docs" / "api.md").read_text()
    names = set(re.findall(r"`(histbench(?:\.[A-Za-z_]+)+)", text)) - {"histbench.json"}
    assert len(names) > 10
    for dotted in sorted(names):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError names the broken path
    block = text.split("from histbench import (", 1)[1].split(")", 1)[0]
    import histbench

    for name in re.findall(r"[a-z_]+", block):
        assert name in histbench.__all__, name


def test_readme_layout_names_every_folder_and_module():
    """The README's Layout is a newcomer's map: every folder, and every module of a layer
    folder, must be on it (modules of a sub-folder such as steps/ are its own business)."""
    import re

    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[A-Za-z_0-9]+/?", layout))
    missing = []
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and p.name[0] != "_"):
        if f"{folder.name}/" not in words:
            missing.append(f"{folder.name}/")
        for sub in folder.iterdir():
            if sub.is_dir() and sub.name[0] != "_" and f"{sub.name}/" not in words:
                missing.append(f"{folder.name}/{sub.name}/")
            elif sub.suffix == ".py" and sub.stem != "__init__" and sub.stem not in words:
                missing.append(f"{folder.name}/{sub.name}")
    assert not missing
