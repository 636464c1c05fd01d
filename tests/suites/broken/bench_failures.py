"""Benchmarks that fail in every way a real suite can."""

import ctypes
import os
import sys


def time_raises():
    raise ValueError("boom")


def time_exits():
    sys.exit(3)


def time_hard_exit():
    os._exit(7)


def time_segfault():
    ctypes.string_at(0)


def time_hangs():
    while True:
        pass


time_hangs.timeout = 1


def track_not_a_number():
    return "abc"


class Partial:
    """One parameter set crashes the process; the others must still be measured."""

    params = [1, 2, 3]
    rounds = 1
    repeat = 2
    number = 1

    def time_crash_on_two(self, n):
        if n == 2:
            ctypes.string_at(0)
        sum(range(10))


def time_fine():
    sum(range(10))
