"""`run RANGE --adaptive`: measure a sparse grid of the range, then bisect wherever the
planner (analysis/adaptive.py) sees a step, until every step is pinned to one commit or
the budget is spent.

Every probe is measured by the ordinary Runner, so each measured commit is an ordinary
result file; the planner reads back everything the results folder holds for the range
(earlier adaptive runs and plain runs alike), so a second run resumes where the first
stopped and measures nothing already measured.

It lives with the command line because it joins both layers below: the Runner (run/)
and the planner (analysis/), which never import each other.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import TextIO

from histbench.analysis import adaptive
from histbench.analysis.series import load_history
from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.exit_codes import ExitCode
from histbench.core.modes import count_floor
from histbench.run.commit_plan import RunOptions, measured_commits
from histbench.run.git import Repo, resolve_range
from histbench.store import machine as machines
from histbench.store.results import CommitInfo

CHUNK = 8  # commits per Runner call: the time budget is checked between chunks


@dataclass
class AdaptiveReport:
    commits: int  # first-parent commits of the range
    measured: int = 0  # of them, with a result (this run's and earlier ones)
    new: int = 0  # measured by this run
    pinned: list[tuple[str, str, str]] = field(default_factory=list)  # label, good, bad
    open: int = 0  # intervals still open when the run stopped
    exit_code: ExitCode = ExitCode.OK


class AdaptiveRun:
    def __init__(self, config: Config, options: RunOptions, *, budget: int | None = None,
                 budget_time: float | None = None, grid: int | None = None,
                 stream: TextIO | None = None):
        self.config, self.options = config, options
        self.budget, self.budget_time, self.grid = budget, budget_time, grid
        self.stream = stream or sys.stderr

    def run(self) -> AdaptiveReport:
        from histbench.run.history_runner import Runner

        start = time.monotonic()
        probe = Runner(self.config, replace(self.options, commits=[]))
        env = probe.environments()[0].name
        machine = machines.collect(self.options.machine).name
        commits = self._range(machine, env)
        report = AdaptiveReport(commits=len(commits))
        index = {c.hash: i for i, c in enumerate(commits)}
        while True:
            measured = {index[h] for h in measured_commits(self.config.results_dir, machine,
                                                          env) if h in index}
            left = None if self.budget is None else self.budget - report.new
            step = adaptive.plan(len(commits), self._series(machine, env, commits, measured),
                                 measured, grid=self.grid, budget=left)
            report.measured = len(measured)
            report.open = len({(iv.lo, iv.hi) for iv in step.open})
            report.pinned = sorted({(label, commits[p.last_good].hash[:8],
                                     commits[p.first_bad].hash[:8])
                                    for label, p in ((_label(p.key), p) for p in step.pinned)})
            self._say(report, step)
            out_of_time = self.budget_time is not None and \
                time.monotonic() - start >= self.budget_time
            if step.done or out_of_time:
                if not step.done:
                    self._line("adaptive: time budget spent (run again to carry on)")
                elif step.cut:
                    self._line(f"adaptive: commit budget spent, {step.cut} more commits "
                               "wanted (run again to carry on)")
                return report
            for chunk in range(0, len(step.measure), CHUNK):
                batch = [commits[i].hash for i in step.measure[chunk:chunk + CHUNK]]
                result = Runner(self.config, replace(self.options, range_spec="",
                                                     commits=batch, steps=None,
                                                     skip_existing=False),
                                progress_stream=self.stream).run()
                report.new += len(batch)
                report.exit_code = max(report.exit_code, ExitCode(result.exit_code))
                if self.budget_time is not None and \
                        time.monotonic() - start >= self.budget_time:
                    break

    def _range(self, machine: str, env: str) -> list[CommitInfo]:
        repo = Repo(self.config.repo_path)
        measured = measured_commits(self.config.results_dir, machine, env)
        commits = resolve_range(repo, self.options.range_spec, branches=self.config.branches,
                                measured=set(measured))
        if self.options.range_spec == "NEW" and measured:
            # NEW starts after the newest measured commit: that commit is its left end, so
            # a step between it and the first new commit is found too
            whole = resolve_range(repo, "ALL", branches=self.config.branches, measured=set())
            done = [i for i, c in enumerate(whole) if c.hash in measured]
            if done and (not commits or whole[done[-1]].hash != commits[0].hash):
                commits = [whole[done[-1]], *commits]
        if len(commits) < 2 and self.options.range_spec != "NEW":
            raise HistbenchError(f"{self.options.range_spec}: --adaptive needs a range of two "
                                 "commits or more")
        return commits

    def _series(self, machine: str, env: str, commits: list[CommitInfo],
                measured: set[int]) -> dict:
        if not measured:
            return {}
        order = [c.hash for c in commits]
        history = load_history(self.config.results_dir, machine, env_name=env, order=order)
        index = {h: i for i, h in enumerate(order)}
        out = {}
        for key, series in history.series.items():
            samples = {index[p.commit.hash]: p.groups for p in series.points
                       if p.commit.hash in index and p.samples}
            out[(series.label, key)] = adaptive.SeriesData(samples, count_floor(series.kind))
        return out

    def _say(self, report: AdaptiveReport, step: adaptive.Plan) -> None:
        at: dict[str, list[str]] = {}
        for label, _, bad in report.pinned:
            at.setdefault(bad, []).append(label)
        pinned = ", ".join(f"{labels[0]} at {bad}" + (f" (+{len(labels) - 1} more)"
                                                      if len(labels) > 1 else "")
                           for bad, labels in at.items()) or "none"
        self._line(f"adaptive: {report.measured} of {report.commits} commits measured "
                   f"({report.new} by this run); steps pinned: {pinned}; "
                   f"open: {report.open} intervals"
                   + (f", {len({(iv.lo, iv.hi) for iv in step.stuck})} without a buildable "
                      "commit between" if step.stuck else "")
                   + (f", next {len(step.measure)} commits" if step.measure else ""))

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _label(key) -> str:
    return key[0] if isinstance(key, tuple) else str(key)
