"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class HistbenchError(Exception):
    """A user-facing failure: the message names the culprit (file, key, benchmark, commit)."""
