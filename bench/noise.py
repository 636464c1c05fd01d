"""A noisy neighbour: bursts of full load on every core, to measure and test under.

Usage:
    python bench/noise.py SECONDS                       # load the machine for SECONDS
    python bench/noise.py SECONDS -- COMMAND [ARGS...]  # run COMMAND beside the load;
                                                        # the load stops when it ends
Options: --cores N (default: every core), --busy MIN MAX and --idle MIN MAX (seconds,
default 0.2 2), --seed S.

The injector itself (``Injector``, a context manager, and its schedule) is
tests/noisy_neighbour.py: the tests use it, and test helpers live under tests/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from noisy_neighbour import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
