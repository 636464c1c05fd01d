"""Build a wheel by calling the project's PEP 517 backend directly, in the target env.

Run by path with the environment's interpreter (standard library only, like the worker).
pip's own ``pip wheel`` spends most of a second starting up and, with build isolation,
creates a fresh environment and installs the build requirements into it for every single
commit; here the requirements are installed once in the benchmark environment and the
backend is imported and called directly, which is what a history of hundreds of commits
needs.

usage: pep517_build.py SOURCE_DIR WHEEL_DIR BACKEND [BACKEND_PATH ...]
Prints the built wheel's file name on the last line of stdout.
"""

import importlib
import os
import sys


def main(argv):
    source, wheel_dir, backend_name, *backend_path = argv
    os.chdir(source)
    sys.path[:0] = [os.path.join(source, p) for p in backend_path]
    module_name, _, attr = backend_name.partition(":")
    backend = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    os.makedirs(wheel_dir, exist_ok=True)
    name = backend.build_wheel(os.path.abspath(wheel_dir))
    print(name)
    return 0


if __name__ == "__main__":
    # Run by path, this file's folder is sys.path[0]; it must not shadow the backend.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(
            os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
