"""Start-up cost of the command line and of ``import histbench``, this tree against an
earlier revision, measured side by side in one run.

Usage: python bench/startup.py [--base REV] [--runs N]

Every invocation is a fresh interpreter; the two trees alternate, and each figure is the
median of the child's CPU time (user + system), which a busy machine inflates far less than
wall time. ``--help`` builds the whole parser, so it shows what importing every subcommand
costs; ``import histbench`` is what a Python API user pays before the first call.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "histbench --help": "import sys\nsys.argv = ['histbench', '--help']\n"
                        "from histbench.cli import main\ntry:\n    main()\nexcept SystemExit:\n"
                        "    pass\n",
    "import histbench": "import histbench\n",
}


def child_cpu(tree: Path, code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # run from the tree itself: ``-c`` puts the working folder first on sys.path
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                   cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_from(tree: Path) -> Path:
    """Which histbench a child started as ``child_cpu`` starts it really imports: an
    editable install must not shadow the tree being measured."""
    out = subprocess.run([sys.executable, "-c", "import histbench; print(histbench.__file__)"],
                         check=True, capture_output=True, text=True, cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree)}).stdout
    return Path(out.strip()).resolve()


def checkout(rev: str, into: Path) -> Path:
    archive = into / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), rev, "histbench"], cwd=ROOT,
                   check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="cb69015", help="revision to compare with")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = checkout(args.base, Path(tmp))
        for tree in (base, ROOT):
            assert imports_from(tree).is_relative_to(tree.resolve()), imports_from(tree)
        for label, code in CASES.items():
            old, new = [], []
            for _ in range(args.runs):
                old.append(child_cpu(base, code))
                new.append(child_cpu(ROOT, code))
            a, b = statistics.median(old), statistics.median(new)
            print(f"{label:18s} {args.base}: {a * 1000:5.0f} ms  this tree: {b * 1000:5.0f} ms"
                  f"  ratio {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
