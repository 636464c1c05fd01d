"""`histbench init`: write a histbench.json, the equivalent of the folder's asv.conf.json
(or, without one, the smallest config there is: the project's name)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from histbench.cli.command import Command
from histbench.core import asv_conf
from histbench.core.config import CONFIG_NAME, KEYS, Config, load_config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode
from histbench.core.files import write_atomic


class InitCommand(Command):
    name = "init"
    help = "write histbench.json (from asv.conf.json when there is one)"
    config_required = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--from", dest="asv_conf", metavar="ASV_CONF",
                            help="the asv.conf.json to convert (default: the one histbench "
                                 "found, else ./asv.conf.json)")
        parser.add_argument("--force", action="store_true",
                            help="replace an existing histbench.json")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        source = Path(args.asv_conf) if args.asv_conf else (
            config.path if asv_conf.is_asv_conf(config.path)
            else Path.cwd() / asv_conf.ASV_CONF_NAME)
        source = source.resolve()
        if not source.is_file() and args.asv_conf:
            raise HistbenchError(f"{source}: asv config not found")
        target = (source.parent if source.is_file() else Path.cwd().resolve()) / CONFIG_NAME
        if target.exists() and not args.force:
            raise HistbenchError(f"{target} exists already (--force replaces it)")
        if source.is_file():
            said = source == config.path  # its note and warnings printed while loading
            load_config(source, notes=(lambda _line: None) if said else None)  # checks all
            data = asv_conf.translate(source).data
        else:
            data = {"project": target.parent.name}
        order = list(KEYS)
        data = dict(sorted(data.items(), key=lambda kv: order.index(kv[0])
                           if kv[0] in order else len(order)))
        write_atomic(target, json.dumps(data, indent=2) + "\n")
        what = f" from {source.name}" if source.is_file() else ""
        print(f"wrote {target}{what}", file=sys.stderr)
        return ExitCode.OK
