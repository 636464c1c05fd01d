"""Options several subcommands share, spelled once so their flags and help agree."""

from __future__ import annotations

import argparse


def add_bench(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("-b", "--bench", action="append", help=help)


def add_quick(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("--quick", action="store_true", help=help)


def add_sampling(parser: argparse.ArgumentParser, keep_disturbed_help: str) -> None:
    """How many processes and samples, and whether disturbed samples count."""
    parser.add_argument("--rounds", type=int, help="processes per benchmark (overrides suite)")
    parser.add_argument("--repeat", type=int, help="samples per process (overrides suite)")
    parser.add_argument("--keep-disturbed", action="store_true", help=keep_disturbed_help)


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    """Output formats; the first is the default."""
    parser.add_argument("--format", choices=list(choices), default=choices[0])


def add_significance(parser: argparse.ArgumentParser) -> None:
    """When a difference between two runs counts as a change, and which rows to print."""
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    parser.add_argument("--factor", type=float, default=1.1,
                        help="a significant change must be at least this many times worse "
                             "to count as a regression (default 1.1)")
    parser.add_argument("--only-changed", action="store_true")


def add_results_source(parser: argparse.ArgumentParser, env: bool) -> None:
    """Whose stored results to read: a machine, and (for commands reading one environment's
    results) the environment."""
    parser.add_argument("--machine", help="machine whose results to use")
    if env:
        parser.add_argument("--env", help="environment name (default: the most used)")
