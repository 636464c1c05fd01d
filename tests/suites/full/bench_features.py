"""A suite exercising every asv feature histbench supports."""

import os

from .common import make_data

rounds = 2  # module-level attribute, looked up last


def time_function():
    sum(range(200))


time_function.pretty_name = "Sum of 200 ints"


def timeraw_import_json():
    return "import json"


def timeraw_with_setup():
    return "x.sort()", "x = list(range(1000, 0, -1))"


def mem_list():
    return [0] * 1000


def peakmem_big_alloc():
    data = bytearray(64 * 1024 * 1024)
    data[::4096] = b"x" * len(data[::4096])


def track_accuracy():
    return 0.93


track_accuracy.unit = "fraction"
track_accuracy.higher_is_better = True


class Sorting:
    params = [[10, 1000], ["list", "tuple"]]
    param_names = ["size", "container"]
    number = 5
    repeat = 4
    warmup_time = 0.0
    sample_time = 0.001

    def setup(self, size, container):
        data = make_data(size)
        self.data = data if container == "list" else tuple(data)

    def teardown(self, size, container):
        with open(os.path.join(os.getcwd(), f"teardown-{size}-{container}"), "w"):
            pass

    def time_sorted(self, size, container):
        sorted(self.data)

    def track_size(self, size, container):
        return size


class OnlyBig:
    params = [1, 100]

    def setup(self, n):
        if n < 10:
            raise NotImplementedError("too small to matter")

    def time_range(self, n):
        list(range(n))


class Cached:
    processes = 1  # asv's old name for rounds
    version = "v7"
    timeout = 30

    def setup_cache(self):
        # Written once per run: the file counts calls so the test can see it ran once.
        with open(os.environ.get("HISTBENCH_TEST_CALLS", "setup_cache_calls"), "a") as f:
            f.write("x")
        return {"payload": list(range(100))}

    def time_use_cache(self, cache):
        sum(cache["payload"])

    def track_cache_len(self, cache):
        return len(cache["payload"])
