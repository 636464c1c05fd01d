"""Benchmarks that drive a fake RAPL counter: each call adds exactly 1000 µJ, so the
measured energy per call is known (1 mJ)."""

import os

COUNTER = os.environ.get("HISTBENCH_FAKE_RAPL", "")
number = 3
repeat = 4
rounds = 2
warmup_time = 0.0


def _add(microjoules):
    with open(COUNTER) as f:
        value = int(f.read())
    with open(COUNTER, "w") as f:
        f.write(str(value + microjoules))


def time_burn():
    _add(1000)
