"""histbench benchmarking itself: result files, saved and loaded."""

import random
import tempfile
from pathlib import Path


class ResultFiles:
    params = [10, 200]
    param_names = ["benchmarks"]

    def setup(self, count):
        try:
            from histbench import results
        except ImportError:
            raise NotImplementedError("histbench.results not present at this commit") from None
        rng = random.Random(1)
        runs = []
        for i in range(count):
            groups = [[rng.gauss(1e-3, 1e-5) for _ in range(10)] for _ in range(2)]
            runs.append(results.BenchmarkResult(
                name=f"bench.time_{i}", kind="time", process_samples=groups).with_stats())
        self.results = results
        self.run = results.RunResults(
            machine="bench", env_name="py", results=runs,
            commit=results.CommitInfo(hash="0" * 40))
        self.tmp = tempfile.TemporaryDirectory()
        self.path = results.save(self.run, Path(self.tmp.name))

    def teardown(self, count):
        self.tmp.cleanup()

    def time_save(self, count):
        self.results.save(self.run, Path(self.tmp.name))

    def time_load(self, count):
        self.results.load(self.path)
