"""Options several subcommands share, spelled once so their flags and help agree."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from histbench.measure.worker_spec import MAX_ROUNDS


# Value checks for numeric options: argparse reports a failure as one line naming the
# option, before anything is measured (a --rounds -1 or --alpha 2 would otherwise run, and
# give figures that mean nothing).
def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    value = _whole(text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def positive_int_upto(limit: int, what: str) -> Callable[[str], int]:
    """A positive whole number no larger than ``limit``: a count of processes, samples or
    workers past it does not finish (or forks the machine to a halt), so it is a typo."""
    def parse(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"{text}: at most {limit} {what}")
        return value
    return parse


MAX_REPEAT = 100_000  # samples per process
MAX_JOBS = 256  # page-rendering processes


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number")
    return value


def probability(text: str) -> float:
    """A significance level: strictly between 0 and 1."""
    value = _finite(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1, exclusive")
    return value


def worse_factor(text: str) -> float:
    """How many times worse a change must be: 1 (any significant change) or more."""
    value = _finite(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1 (1.1: 10% worse)")
    return value


def output_file(text: str) -> str:
    """A file a command writes after measuring: checked first, so that a typo in the path
    costs a second, not a run's measurements."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text}: not writable")
    return text


def machine_name(text: str) -> str:
    """A machine's name becomes a folder and appears in printed shell commands: it must be
    something a person typed on purpose, not an option (``--machine=-rf``) or blank."""
    if not text.strip() or text.startswith("-") or not text.isprintable() or "/" in text:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a machine name (no leading '-', no '/', printable, not blank)")
    return text


def port(text: str) -> int:
    value = _whole(text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0 to 65535)")
    return value


def add_bench(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("-b", "--bench", action="append", help=help)


def add_quick(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("--quick", action="store_true", help=help)


def add_sampling(parser: argparse.ArgumentParser, keep_disturbed_help: str) -> None:
    """How many processes and samples, and whether disturbed samples count."""
    parser.add_argument("--rounds", type=positive_int_upto(MAX_ROUNDS, "processes"),
                        help="processes per benchmark (overrides suite)")
    parser.add_argument("--repeat", type=positive_int_upto(MAX_REPEAT, "samples"),
                        help="samples per process (overrides suite)")
    parser.add_argument("--keep-disturbed", action="store_true", help=keep_disturbed_help)


def add_measure(parser: argparse.ArgumentParser) -> None:
    """What time_ samples count, over the suite's and the config's choice."""
    from histbench.core.modes import MODES

    parser.add_argument("--measure", choices=MODES, default=None,
                        help="what time_ benchmarks count: wall time or instructions under "
                        "Valgrind (default: the benchmark's `measure`, else the config's)")


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    """Output formats; the first is the default."""
    parser.add_argument("--format", choices=list(choices), default=choices[0])


def add_significance(parser: argparse.ArgumentParser) -> None:
    """When a difference between two runs counts as a change, and which rows to print."""
    parser.add_argument("--alpha", type=probability, default=0.05,
                        help="significance level")
    parser.add_argument("--factor", type=worse_factor, default=1.1,
                        help="a significant change must be at least this many times worse "
                             "to count as a regression (default 1.1)")
    parser.add_argument("--only-changed", action="store_true")


def add_results_source(parser: argparse.ArgumentParser, env: bool) -> None:
    """Whose stored results to read: a machine, and (for commands reading one environment's
    results) the environment."""
    parser.add_argument("--machine", type=machine_name,
                        help="machine whose results to use")
    if env:
        parser.add_argument("--env", help="environment name (default: the most used)")
