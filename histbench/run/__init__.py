"""Measuring a history: the suite, git, environments, the worker processes and the runner
that walks commits; the only layer that starts processes in benchmark environments."""
