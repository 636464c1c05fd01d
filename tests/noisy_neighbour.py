"""A noisy neighbour: bursts of full load on every core, to measure and test under.

It lives with the tests, which run under it; ``python bench/noise.py`` is its command line
(see there for usage).

Shared CI runners and VMs slow a process down in bursts lasting seconds, on every core at
once (on this project's machines a fixed loop runs 2x slower for seconds, then recovers).
The injector imitates that: one busy process per core, all following one random schedule
(busy 0.2-2 s, idle 0.2-2 s), so a burst hits every core together and no core is left
quiet for the benchmark to hide on. It stops by itself after SECONDS, when COMMAND ends,
or when its parent dies, so it can never be left running. From Python, ``Injector`` is a
context manager that does the same.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator


def schedule(seed: int, busy: tuple[float, float], idle: tuple[float, float]
             ) -> Iterator[tuple[float, float]]:
    """(start, end) offsets of successive bursts, from one seed: every core gets the same."""
    rng = random.Random(seed)
    t = rng.uniform(*idle) / 2
    while True:
        length = rng.uniform(*busy)
        yield t, t + length
        t += length + rng.uniform(*idle)


def _load(start: float, until: float, seed: int, busy: tuple[float, float],
          idle: tuple[float, float], parent: int) -> None:
    """One core's share: spin during bursts, sleep between them, give up when orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for begin, end in schedule(seed, busy, idle):
        begin, end = start + begin, min(start + end, until)
        while time.monotonic() < begin:
            if os.getppid() != parent or time.monotonic() >= until:
                return
            time.sleep(min(0.05, max(0.0, begin - time.monotonic())))
        x = 0
        while time.monotonic() < end:
            for i in range(2000):
                x += i * i
        if time.monotonic() >= until or os.getppid() != parent:
            return


class Injector:
    """``with Injector(seconds):`` runs the load beside the block, and stops it after."""

    def __init__(self, seconds: float, *, cores: int | None = None, seed: int = 0,
                 busy: tuple[float, float] = (0.2, 2.0), idle: tuple[float, float] = (0.2, 2.0)):
        self.seconds, self.seed, self.busy, self.idle = seconds, seed, busy, idle
        self.cores = cores or os.cpu_count() or 1
        self.procs: list[multiprocessing.Process] = []

    def start(self) -> Injector:
        ctx = multiprocessing.get_context("fork")
        start = time.monotonic()
        until = start + self.seconds
        for _ in range(self.cores):
            p = ctx.Process(target=_load, args=(start, until, self.seed, self.busy, self.idle,
                                                os.getpid()), daemon=True)
            p.start()
            self.procs.append(p)
        return self

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=5)
        self.procs = []

    def wait(self) -> None:
        for p in self.procs:
            p.join()

    def __enter__(self) -> Injector:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", type=float)
    parser.add_argument("--cores", type=int, default=None)
    parser.add_argument("--busy", type=float, nargs=2, default=(0.2, 2.0))
    parser.add_argument("--idle", type=float, nargs=2, default=(0.2, 2.0))
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    injector = Injector(args.seconds, cores=args.cores, seed=seed, busy=tuple(args.busy),
                        idle=tuple(args.idle))
    print(f"noise: {injector.cores} core(s), {args.seconds:g} s, seed {seed}", file=sys.stderr)
    with injector:
        if not command:
            try:
                injector.wait()
            except KeyboardInterrupt:
                return 130
            return 0
        try:
            return subprocess.run(command).returncode
        except FileNotFoundError:
            print(f"noise: no such command: {command[0]}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130
