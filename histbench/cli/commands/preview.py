"""`histbench preview`: the published site, served on localhost."""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode


class PreviewCommand(Command):
    name = "preview"
    help = "serve the published site on localhost"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--html-dir")
        parser.add_argument("--port", type=int, default=8080)

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        html_dir = Path(args.html_dir) if args.html_dir else config.html_dir
        if not (html_dir / "index.html").exists():
            raise HistbenchError(f"{html_dir}: no site yet (run `histbench publish` first)")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(html_dir))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            print(f"serving {html_dir} at http://127.0.0.1:{server.server_address[1]}/ "
                  "(Ctrl-C stops)", file=sys.stderr, flush=True)
            server.serve_forever()
        return ExitCode.OK
