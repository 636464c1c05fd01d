"""scipy.special, imported on first use: a third of a second that commands which never test
anything (``--help``, ``run``, publish's parent process) should not pay."""

from __future__ import annotations

import types


def special() -> types.ModuleType:
    from scipy import special as module

    return module
