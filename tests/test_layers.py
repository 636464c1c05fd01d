"""The architecture, checked: imports only flow one way between layers.

measurement (the worker) -> orchestration -> storage -> analysis -> presentation is the
order data flows in. The worker imports nothing of ours (it runs in old commits' envs);
storage knows nothing of how results were made; analysis never imports the runner, so it
can be used on results from anywhere (imports, other machines, the Python API).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "histbench"

LAYERS = {
    "measurement": {"worker", "pep517_build", "disturbance"},
    "core": {"__init__", "errors", "config", "processes"},
    "storage": {"summary", "results", "machine", "asv_import"},
    "orchestration": {"suite", "execute", "gitrepo", "environments", "runner", "progress"},
    "analysis": {"stats", "detect", "history", "compare", "regressions", "bisect", "pick",
                 "site_model", "metrics", "variants"},
    "presentation": {"cli", "__main__", "text", "tables", "cli_analysis", "plots", "sparklines",
                     "step_hints",
                     "commit_rows", "publish", "report"},
}
ALLOWED = {
    "measurement": set(),
    "core": {"core"},
    "storage": {"core", "storage"},
    # The runner starts the worker and applies its disturbance rule to what it reports.
    "orchestration": {"core", "storage", "orchestration", "measurement"},
    "analysis": {"core", "storage", "analysis"},
    "presentation": set(LAYERS),
}


def layer_of(module: str) -> str:
    for layer, modules in LAYERS.items():
        if module in modules:
            return layer
    raise AssertionError(f"histbench/{module}.py is in no layer: add it to tests/test_layers.py")


def histbench_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "histbench":
                found |= {a.name for a in node.names}
            elif node.module.startswith("histbench."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("histbench.")}
    return found - {"__version__"}


def test_every_import_follows_the_layers():
    problems = []
    for path in sorted(PACKAGE.glob("*.py")):
        layer = layer_of(path.stem)
        for target in histbench_imports(path):
            if layer_of(target) not in ALLOWED[layer]:
                problems.append(f"{path.stem} ({layer}) imports {target} ({layer_of(target)})")
    assert not problems
