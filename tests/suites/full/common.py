"""Shared helper imported relatively by the suite, as asv suites do."""


def make_data(n):
    return list(range(n, 0, -1))
