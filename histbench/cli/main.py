"""The `histbench` command line: the parser, built from the registry of subcommands, and
the one place errors are caught.

Every user-facing failure is a HistbenchError, printed as one line; a traceback means a bug
in histbench, not in the user's input.
"""

from __future__ import annotations

import argparse
import os
import sys

from histbench import __version__
from histbench.cli.commands import BY_NAME, COMMANDS
from histbench.cli.loading import config_for
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histbench", description="Benchmark a Python project across its git history.")
    parser.add_argument("--version", action="version", version=f"histbench {__version__}")
    parser.add_argument("--config", help="path to histbench.json (default: nearest one)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = BY_NAME[args.command]
    try:
        return int(command.run(config_for(args, command.config_required), args))
    except HistbenchError as exc:
        print(f"histbench: error: {exc}", file=sys.stderr)
        return int(ExitCode.ERROR)
    except BrokenPipeError:
        # The reader went away (``histbench show | head``): what it wanted it has; stop
        # quietly, and keep Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.ERROR)
    except OSError as exc:
        if exc.filename is None:
            raise  # not about a file the user named: a bug to see in full
        # A folder made read-only, a disk full, a path that is a folder: one line, like
        # every other problem with the user's files.
        print(f"histbench: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        print("histbench: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)  # so that scripts looping over histbench stop too


if __name__ == "__main__":
    sys.exit(main())
