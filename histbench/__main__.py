import sys

from histbench.cli.main import main

sys.exit(main())
