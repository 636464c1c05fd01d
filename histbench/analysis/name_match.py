"""Which one benchmark and parameter set a user named with ``-b``.

Bisect and the other one-series commands need exactly one series, and users name it the
way their tools print it: a regex over names (``time_work``), a full name, or asv's
``name(values)`` spelling (``bench.time_sort(1000, 'random')``) or histbench's
``name(n=1000, kind='random')``. A name that matches several series is an error listing
every candidate, spelled so that it can be pasted back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from histbench.core.errors import HistbenchError
from histbench.core.modes import benchmark_of
from histbench.core.patterns import compile_pattern
from histbench.store.results import label_of

Key = tuple[str, tuple[tuple[str, str], ...]]  # (name, params as items), as results key


def split_call(text: str) -> tuple[str, list[str]] | None:
    """``name(a, b=c)`` -> (``name``, [``a``, ``b=c``]); None when not of that form.
    Commas inside quotes or brackets do not split."""
    text = text.strip()
    if not text.endswith(")") or "(" not in text:
        return None
    name, _, inner = text[:-1].partition("(")
    parts, depth, quote, current = [], 0, "", ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    if current.strip():
        parts.append(current.strip())
    return name.strip(), parts


def _name_matches(pattern: str, names: set[str]) -> set[str]:
    """Exact names and dotted suffixes first (``time_x`` is ``mod.time_x``, not also
    ``mod.time_x_big``); a regex search only when nothing matches that way."""
    exact = {n for n in names if n == pattern or n.endswith("." + pattern)}
    if exact:
        return exact
    compiled = compile_pattern(pattern, "-b ")
    return {n for n in names if compiled.search(n)}


def _params_match(params: tuple[tuple[str, str], ...], wanted: list[str]) -> bool:
    if not wanted:
        return not params
    if all(re.match(r"^[A-Za-z_]\w*\s*=", w) for w in wanted):
        given = {k.strip(): v.strip() for k, _, v in (w.partition("=") for w in wanted)}
        return given == {k: v for k, v in params}
    return [w.strip() for w in wanted] == [v for _, v in params]


def matching(pattern: str, keys: Iterable[Key]) -> list[Key]:
    """Every series the pattern names, in a stable order."""
    keys = sorted(set(keys))
    call = split_call(pattern)
    if call is not None:
        names = _name_matches(call[0], {k[0] for k in keys})
        return [k for k in keys if k[0] in names and _params_match(k[1], call[1])]
    names = _name_matches(pattern, {k[0] for k in keys})
    return [k for k in keys if k[0] in names]


def pick_one(pattern: str, keys: Iterable[Key]) -> Key:
    """The one series ``pattern`` names; an error listing the candidates otherwise."""
    keys = list(keys)
    found = matching(pattern, keys)
    if len(found) == 1:
        return found[0]
    if not found:
        raise HistbenchError(f"-b {pattern!r} matches no benchmark measured here")
    listed = "\n".join(f"  -b {shell_quote(label_of(n, dict(p)))}" for n, p in found)
    raise HistbenchError(f"-b {pattern!r} matches {len(found)} benchmarks or parameter "
                         f"sets; name one of them:\n{listed}")


def shell_quote(text: str) -> str:
    """``text`` as one shell word that reads well: a label such as ``f(kind='a')`` goes in
    double quotes (shlex.quote would splice its single quotes into '"'"')."""
    import shlex

    if re.fullmatch(r"[\w.@%+=:,/-]+", text):
        return text
    if not re.search(r'["$`\\!]', text):
        return f'"{text}"'
    return shlex.quote(text)


def name_regex(key: Key) -> str:
    """A ``-b`` regex that runs exactly this series: the runner matches ``-b`` as asv does,
    against ``name(v1, v2)`` for a parameterised benchmark (run/suite.call_labels)."""
    name, params = key
    name = benchmark_of(name)[0]  # a count series is measured by running its benchmark
    label = f"{name}({', '.join(v for _, v in params)})" if params else name
    return f"^{re.escape(label)}$"
