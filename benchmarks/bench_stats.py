"""histbench benchmarking itself: summary statistics on large sample sets."""

import random


class Summarize:
    params = [1_000, 100_000]
    param_names = ["n"]

    def setup(self, n):
        rng = random.Random(42)
        self.samples = [rng.lognormvariate(0, 0.3) for _ in range(n)]
        self.groups = [self.samples[i::10] for i in range(10)]
        try:
            from histbench.summary import summarize
        except ImportError:  # a commit from before the summary module existed
            raise NotImplementedError("histbench.summary not present at this commit") from None
        self.summarize = summarize

    def time_summarize(self, n):
        self.summarize(self.samples, self.groups)
