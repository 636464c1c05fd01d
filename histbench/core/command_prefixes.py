"""asv's command prefixes, read in one place: the config check at load, the build and
install runner, and the comparison of a converted asv.conf.json with asv's stock commands
must all agree on what a command is, or a config that loads cleanly fails half-way
through a run.

A command's leading words may be ``VAR=value`` (a variable for that command),
``in-dir=PATH`` (its folder) and ``return-code=any`` or ``=0,1,...`` (the exit codes that
mean success), in any order; the first other word starts the command itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
CODES = re.compile(r"[0-9]+(,[0-9]+)*")
KEYWORDS = ("in-dir", "return-code")


class PrefixError(ValueError):
    """What is wrong with a command's prefixes, worded to follow ``command '...': ``."""


@dataclass(frozen=True)
class Command:
    argv: list[str]
    variables: dict[str, str] = field(default_factory=dict)
    codes: frozenset[int] | None = frozenset({0})  # exit codes meaning success; None: any
    in_dir: str | None = None


def split_prefixes(words: list[str]) -> Command:
    """The command behind ``words`` (already split, as shlex does) and what its prefixes
    say; PrefixError for a keyword given twice, a bad ``return-code=``, or nothing left
    to run."""
    variables: dict[str, str] = {}
    settings: dict[str, str] = {}
    rest = list(words)
    while rest:
        keyword, sep, value = rest[0].partition("=")
        if sep and keyword in KEYWORDS:
            if keyword in settings:
                raise PrefixError(f"{keyword}= given twice")
            settings[keyword] = value
        elif (assignment := ASSIGNMENT.match(rest[0])) is not None:
            variables[assignment.group(1)] = assignment.group(2)
        else:
            break
        rest = rest[1:]
    if not rest:
        raise PrefixError("nothing to run after its prefixes")
    return Command(argv=rest, variables=variables, codes=_codes(settings.get("return-code")),
                   in_dir=settings.get("in-dir"))


def _codes(value: str | None) -> frozenset[int] | None:
    if value is None:
        return frozenset({0})
    if value == "any":
        return None
    if not CODES.fullmatch(value):
        raise PrefixError(f"bad 'return-code={value}' (return-code=any or =0,1,...)")
    return frozenset(int(v) for v in value.split(","))
