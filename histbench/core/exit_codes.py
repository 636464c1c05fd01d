"""What a histbench command's exit status means, in one place: CI scripts branch on these,
so each number keeps its meaning across commands."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # bad input or configuration: the one-line error says which
    REGRESSION = 1  # compare/continuous: a significant regression beyond --factor
    BENCHMARK_FAILED = 2  # a benchmark raised, timed out or a suite file did not import
    BUILD_FAILED = 3  # a commit did not build or install
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: what a shell reports for SIGINT (128 + 2)
