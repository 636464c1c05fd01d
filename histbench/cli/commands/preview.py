"""`histbench preview`: the published site, served on localhost."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from histbench.cli import options
from histbench.cli.command import Command
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode


class PreviewCommand(Command):
    name = "preview"
    help = "serve the published site on localhost"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--html-dir")
        parser.add_argument("--port", type=options.port, default=8080,
                            help="port on 127.0.0.1 (0: any free port; default 8080)")

    def run(self, config: Config, args: argparse.Namespace) -> ExitCode:
        # Imported here: the server pulls in http.server, which `histbench --help` never needs.
        from histbench.site.preview_server import make_server

        html_dir = Path(args.html_dir) if args.html_dir else config.html_dir
        if not (html_dir / "index.html").is_file():
            raise HistbenchError(f"{html_dir}: no site yet (run `histbench publish` first)")
        with make_server(html_dir, args.port) as server:
            host, port = server.server_address[:2]
            print(f"serving {html_dir} at http://{host}:{port}/ (Ctrl-C stops)",
                  file=sys.stderr, flush=True)
            server.serve_forever()
        return ExitCode.OK
