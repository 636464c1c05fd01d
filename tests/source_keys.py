"""Which keys a piece of worker code reads from a dict variable, by its syntax tree: the
parent writes the worker's spec files from measure/worker_spec.py's TypedDicts, and tests
check that both sides name the same keys."""

from __future__ import annotations

import ast


def keys_read(tree: ast.AST, name: str) -> set[str]:
    """Every constant key read from a variable ``name``: ``name["k"]``, ``name.get("k")``,
    ``name.pop("k")``."""
    keys = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id == name and isinstance(node.slice, ast.Constant)):
            keys.add(node.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop") and isinstance(node.func.value, ast.Name)
              and node.func.value.id == name and node.args
              and isinstance(node.args[0], ast.Constant)):
            keys.add(node.args[0].value)
    return keys
