import sys

from histbench.cli import main

sys.exit(main())
