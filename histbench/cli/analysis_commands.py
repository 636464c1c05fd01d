"""The analysis commands: compare, continuous, regressions, bisect, show.

Thin glue: resolve what the user named (refs, machines), load results, call the analysis
layer, print. Measuring (continuous, bisect) goes through the runner, the analysis itself
never does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from histbench.core.config import Config
from histbench.core.errors import HistbenchError
from histbench.core.formatting import format_value, render_table
from histbench.run.git import Repo, branch_commits
from histbench.run.rounds import Settings
from histbench.store import results
from histbench.store.results import CommitInfo, RunResults, label_of

if TYPE_CHECKING:
    from histbench.analysis.series import History

# The analysis modules pull in scipy (a second of imports): they are imported inside the
# commands that need them, so `histbench run` and friends start quickly.

EXIT_OK, EXIT_REGRESSION = 0, 1


def history_order(config: Config) -> list[str] | None:
    """First-parent order of the configured branches, or None without a usable repo."""
    try:
        repo = Repo(config.repo_path)
    except HistbenchError:
        return None
    return branch_commits(repo, config.branches, missing_ok=True) or None


def load(config: Config, args: argparse.Namespace) -> History:
    from histbench.analysis.series import load_history, pick_machine

    machine = pick_machine(config.results_dir, getattr(args, "machine", None))
    return load_history(config.results_dir, machine, env_name=getattr(args, "env", None),
                        order=history_order(config))


def resolve_run(config: Config, history: History, spec: str) -> RunResults:
    """A ref git knows, or a hash prefix of a measured commit."""
    sha = spec
    try:
        sha = Repo(config.repo_path).rev(spec)
    except HistbenchError:
        pass
    matches = [h for h in history.runs if h.startswith(sha.lower())]
    if len(matches) != 1:
        why = "is ambiguous" if matches else "has no results"
        raise HistbenchError(f"commit {spec!r} {why} on machine {history.machine} "
                             f"(env {history.env_name})")
    return history.runs[matches[0]]


def emit_compare(rows, a: RunResults, b: RunResults, args: argparse.Namespace) -> None:
    from histbench.cli.tables import compare_json, compare_markdown, compare_text

    title = f"histbench: {a.commit.short} → {b.commit.short} on {a.machine}"
    shown = [r for r in rows if r.changed] if args.only_changed else rows
    if args.format == "json":
        meta = {"a": a.commit.hash, "b": b.commit.hash, "machine": a.machine,
                "alpha": args.alpha, "factor": args.factor}
        print(compare_json(shown, meta))
    elif args.format == "markdown":
        print(compare_markdown(shown, title))
    else:
        print(title)
        print(compare_text(shown))
    if getattr(args, "summary", None):
        Path(args.summary).write_text(compare_markdown(shown, title))


def cmd_compare(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.run_diff import compare_runs, has_regression

    history = load(config, args)
    a, b = resolve_run(config, history, args.a), resolve_run(config, history, args.b)
    rows = compare_runs(a, b, alpha=args.alpha, factor=args.factor)
    emit_compare(rows, a, b, args)
    return EXIT_REGRESSION if has_regression(rows) else EXIT_OK


def cmd_continuous(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.run_diff import compare_runs, has_regression
    from histbench.run.history_runner import Runner, RunOptions

    options = RunOptions(range_spec="", commits=[args.base, args.head], bench=args.bench,
                         machine=args.machine, interleave=True, quick=args.quick,
                         settings=Settings(rounds=args.rounds))
    report = Runner(config, options, progress_stream=sys.stderr).run()
    if report.build_failures:
        raise HistbenchError("a commit failed to build; see its result file for the log")
    runs = {r.commit.hash: r for r in map(results.load, report.saved)}
    base, head = (runs[Repo(config.repo_path).rev(c)] for c in (args.base, args.head))
    rows = compare_runs(base, head, alpha=args.alpha, factor=args.factor)
    emit_compare(rows, base, head, args)
    return EXIT_REGRESSION if has_regression(rows) else EXIT_OK


def cmd_regressions(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.changes import find_changes
    from histbench.cli.tables import changes_json, changes_markdown, changes_text, list_changes

    history = load(config, args)
    changes = find_changes(history, alpha=args.alpha, threshold=config.threshold_for)
    listed = list_changes(changes, history.machine, history_order(config))
    if not args.all:
        listed = [item for item in listed if item.change.regression]
    if args.format == "json":
        print(changes_json(listed, {"machine": history.machine, "env": history.env_name,
                                    "commits": len(history.commits)}))
    elif args.format == "markdown":
        print(changes_markdown(listed))
    else:
        print(changes_text(listed) if listed else "no significant steps found")
    return EXIT_OK


def _numbered_step(config: Config, args: argparse.Namespace):
    """Step ``--step N`` as `regressions` numbers it, on the same history and settings."""
    from histbench.analysis.changes import find_changes

    history = load(config, args)
    changes = find_changes(history, alpha=args.alpha, threshold=config.threshold_for)
    if not 1 <= args.step <= len(changes):
        raise HistbenchError(f"--step {args.step}: `histbench regressions --all` lists "
                             f"{len(changes)} step(s) on machine {history.machine}")
    change = changes[args.step - 1]
    if change.last_good is None:
        raise HistbenchError(f"--step {args.step}: the step is at the first measured commit; "
                             "there is no good commit to bisect from")
    return change, history.machine


def _known_series(config: Config) -> dict:
    """Series key -> benchmark version, from the suite description earlier runs saved."""
    from histbench.run.suite import BenchmarkSpec

    known = {}
    for name, info in results.load_benchmark_info(config.results_dir).items():
        try:
            spec = BenchmarkSpec(name=name, module="", kind=info.get("kind", ""),
                                 params=info.get("params") or [],
                                 param_names=info.get("param_names") or [])
            sets = spec.param_sets()
        except (TypeError, ValueError, AttributeError):
            continue  # a description from another version of histbench
        for params in sets:
            known[(name, tuple(params.items()))] = str(info.get("version", ""))
    return known


def cmd_bisect(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.bisect import bisect
    from histbench.analysis.name_match import matching, pick_one

    if args.step is not None:
        change, machine = _numbered_step(config, args)
        good, bad, target = change.last_good.hash, change.first_bad.hash, change.series.key
        machine = args.machine or machine
    elif args.good and args.bad and args.bench:
        good, bad, target, machine = args.good, args.bad, None, args.machine
    else:
        raise HistbenchError("bisect needs GOOD BAD -b NAME, or --step N from "
                             "`histbench regressions`")
    repo = Repo(config.repo_path)
    shas = repo.first_parent(f"{repo.rev(good)}..{repo.rev(bad)}")
    commits = repo.infos([repo.rev(good), *shas])
    known = _known_series(config)
    if target is None and matching(args.bench, known):
        target = pick_one(args.bench, known)  # one, or the list of candidates to choose
    probe = _Probe(config, args, target, machine)
    earlier = probe.earlier(commits, known) if target in known else []
    found = bisect(commits, probe.measure, alpha=args.alpha, earlier=earlier)
    ev = found.evidence
    print(f"benchmark: {label_of(*probe.target)}")
    print(f"culprit: {found.culprit.hash} {found.culprit.subject}")
    print(f"last good: {found.last_good.hash} {found.last_good.subject}")
    print(f"evidence: ratio {ev.ratio:.3f} [{ev.ci_low:.3f}, {ev.ci_high:.3f}], "
          f"p = {ev.p_value:.2g} ({ev.method} on {ev.level}, n = {ev.n_a} vs {ev.n_b})")
    print(f"{len(found.probes)} probes, {found.measured_commits} of {len(commits)} commits "
          f"measured, {probe.batches} batches"
          + (f", {len(earlier)} earlier batch(es) reused" if earlier else ""))
    for p in found.probes:
        print(f"  {p.commit.short}: {p.side:15s} vs good {p.vs_good.ratio:.3f} "
              f"(p {p.vs_good.p_value:.2g}), vs bad {p.vs_bad.ratio:.3f} "
              f"(p {p.vs_bad.p_value:.2g}), {p.measurements} measurement(s)")
    return EXIT_OK


class _Probe:
    """Measures the commits of one bisect decision together, for one series only.

    The runner measures the whole benchmark (all its parameter sets, interleaved rounds)
    and merges it into each commit's result file; the samples taken back are the chosen
    series' fresh ones, so whatever else the results folder holds plays no part."""

    def __init__(self, config: Config, args: argparse.Namespace, target, machine):
        self.config, self.args, self.target, self.machine = config, args, target, machine
        self.batches = 0

    def measure(self, batch: list[CommitInfo]) -> dict[str, list[list[float]]]:
        from histbench.analysis.name_match import name_regex, pick_one
        from histbench.run.history_runner import Runner, RunOptions

        pattern = name_regex(self.target) if self.target else self._name_pattern()
        options = RunOptions(range_spec="", commits=[c.hash for c in batch], bench=[pattern],
                             machine=self.machine, interleave=True,
                             settings=Settings(rounds=self.args.rounds))
        runner = Runner(self.config, options, progress_stream=_Quiet())
        report = runner.run()
        self.batches += 1
        runs = list(map(results.load, report.saved))
        if self.target is None:  # named a benchmark never measured here: now it is
            fresh = {r.key for run in runs for r in run.results
                     if r.extra.get("batch") == runner.batch}
            self.target = pick_one(self.args.bench, fresh)
        out: dict[str, list[list[float]]] = {}
        for run in runs:
            r = run.by_key().get(self.target)
            out[run.commit.hash] = r.process_samples if r is not None and r.status == "ok" \
                else []
        medians = ", ".join(f"{c.short} {_median_of(out.get(c.hash, []))}" for c in batch)
        print(f"batch {self.batches}: {medians}", file=sys.stderr)
        return out

    def _name_pattern(self) -> str:
        from histbench.analysis.name_match import split_call

        call = split_call(self.args.bench)
        return call[0] if call else self.args.bench

    def earlier(self, commits: list[CommitInfo], known: dict) -> list[dict]:
        """Earlier measurements that may stand as evidence (docs/api.md, "Bisect")."""
        from histbench.analysis.bisect import earlier_batches
        from histbench.run.history_runner import Runner, RunOptions
        from histbench.store import machine as machines

        # The machine and the environment the probes will be measured on, named as the
        # runner names them.
        runner = Runner(self.config, RunOptions(range_spec="", commits=[]))
        env = runner.environments()[0].name
        machine = machines.collect(self.machine).name
        found = []
        for c in commits:
            path = results.result_path(self.config.results_dir, machine, c.hash, env)
            try:
                run = results.load(path)
            except HistbenchError:
                continue  # not measured, or corrupt: no evidence
            r = run.by_key().get(self.target)
            if r is not None:
                found.append((c.hash, r))
        return earlier_batches(found, known[self.target])


def _median_of(groups: list[list[float]]) -> str:
    values = sorted(v for g in groups for v in g)
    return f"{values[len(values) // 2]:.4g}" if values else "no result"


class _Quiet:
    """Progress goes nowhere during bisect: its own lines say what is measured."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def cmd_show(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.two_sample import minimum_detectable_effect

    history = load(config, args)
    run = resolve_run(config, history, args.commit) if args.commit else \
        history.runs[history.commits[-1].hash]
    rows, data = [], []
    for r in run.results:
        mde = minimum_detectable_effect(r.process_samples) if r.status == "ok" else None
        entry = {**r.to_dict(), "minimum_detectable_effect": mde}
        data.append(entry)
        if r.status != "ok" or r.stats is None:
            rows.append([r.label, f"{r.status}: {r.reason or ''}"[:60], "", "", "", ""])
            continue
        s = r.stats
        rows.append([r.label, format_value(s.median, r.unit),
                     f"[{format_value(s.median_ci_low, r.unit)}, "
                     f"{format_value(s.median_ci_high, r.unit)}]", str(s.n),
                     f"can detect changes >= {100 * mde:.1f}% with 95% power"
                     if mde is not None else "too few samples to tell",
                     r.disturbance.describe() if r.disturbance else ""])
    if args.format == "json":
        print(json.dumps({"commit": run.commit.hash, "machine": run.machine,
                          "env": run.env_name, "results": data}, indent=1))
    else:
        print(f"{run.commit.short} {run.commit.subject}  ({run.machine}, {run.env_name})")
        print(render_table(["benchmark", "median", "95% CI", "n", "sensitivity",
                            "disturbed"], rows))
    return EXIT_OK


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from histbench.analysis.variants import families_from_commits, families_from_params
    from histbench.cli import variant_report as report
    from histbench.store import machine as machines

    history = load(config, args)
    run = resolve_run(config, history, args.commit) if args.commit else \
        history.runs[history.commits[-1].hash]
    chosen = None
    if args.bench:
        from histbench.run.suite import Suite

        names = {r.name for r in run.results}
        chosen = {b.name for b in Suite([_Named(n) for n in names]).select(args.bench)
                  .benchmarks}
    families = families_from_params(run, args.baseline, chosen)
    title = f"{config.project}: variants against {args.baseline}"
    if not families:
        try:
            base = resolve_run(config, history, args.baseline)
        except HistbenchError:
            raise HistbenchError(
                f"--baseline {args.baseline!r} is neither a variant (parameter value) of "
                f"any benchmark at {run.commit.short} nor a measured commit") from None
        families = families_from_commits(base, run, chosen)
        title = f"{config.project}: {run.commit.short} against {base.commit.short}"
    try:
        record = machines.load(config.results_dir / history.machine / "machine.json")
    except HistbenchError:
        record = None
    repro = report.reproducibility(run, record, results.load_benchmark_info(config.results_dir))
    out = Path(args.output) if args.output else None
    if args.format == "json":
        text = json.dumps(report.as_json(families, repro), indent=1)
    elif args.format == "html":
        text = report.html(families, repro, title)
    else:
        text = report.markdown(families, repro, out.parent if out else Path("."), title)
    if out:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)
    return EXIT_OK


class _Named:
    """Just a name, so Suite.select's regex matching serves report's -b too."""

    def __init__(self, name: str):
        self.name = name


def add_parsers(sub, common) -> None:
    """Register the analysis commands on the main parser's subparsers."""
    def formats(p):
        p.add_argument("--format", choices=["text", "json", "markdown"], default="text")

    def stats_opts(p):
        p.add_argument("--alpha", type=float, default=0.05, help="significance level")
        p.add_argument("--factor", type=float, default=1.1,
                       help="a significant change must be at least this many times worse "
                            "to count as a regression (default 1.1)")
        p.add_argument("--only-changed", action="store_true")

    c = sub.add_parser("compare", help="compare the results of two commits")
    c.add_argument("a")
    c.add_argument("b")
    stats_opts(c)
    formats(c)
    common(c)
    c.set_defaults(analysis=cmd_compare)

    k = sub.add_parser("continuous", help="measure BASE and HEAD interleaved, then compare")
    k.add_argument("base")
    k.add_argument("head")
    k.add_argument("-b", "--bench", action="append")
    k.add_argument("--quick", action="store_true")
    k.add_argument("--rounds", type=int, help="processes per benchmark and commit")
    k.add_argument("--summary", help="write a Markdown summary here (CI job summary, PR)")
    stats_opts(k)
    formats(k)
    common(k)
    k.set_defaults(analysis=cmd_continuous)

    r = sub.add_parser("regressions", help="every detected step of every benchmark")
    r.add_argument("--alpha", type=float, default=0.05, help="family-wise false-alarm rate")
    r.add_argument("--all", action="store_true", help="improvements too")
    formats(r)
    common(r)
    r.set_defaults(analysis=cmd_regressions)

    b = sub.add_parser("bisect", help="find the commit that changed a benchmark")
    b.add_argument("good", nargs="?")
    b.add_argument("bad", nargs="?")
    b.add_argument("-b", "--bench", help="one benchmark and parameter set: a regex, a name, "
                                         "or name(params) as asv or histbench spell it")
    b.add_argument("--step", type=int, help="bisect step N as numbered by `regressions`")
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--rounds", type=int, default=None, help="processes per probe")
    common(b)
    b.set_defaults(analysis=cmd_bisect)

    rp = sub.add_parser("report", help="fair comparison of variants: speedup, accuracy, "
                                       "memory, energy, Pareto front")
    rp.add_argument("--baseline", required=True,
                    help="the baseline variant (a parameter value) or commit")
    rp.add_argument("--commit", help="the commit whose results to report (default: newest)")
    rp.add_argument("-b", "--bench", action="append", help="regex of benchmarks to include")
    rp.add_argument("--format", choices=["markdown", "html", "json"], default="markdown")
    rp.add_argument("--output", help="write here (plots go next to it for markdown)")
    common(rp)
    rp.set_defaults(analysis=cmd_report)

    s = sub.add_parser("show", help="results of one commit, with each benchmark's sensitivity")
    s.add_argument("commit", nargs="?")
    s.add_argument("--format", choices=["text", "json"], default="text")
    common(s)
    s.set_defaults(analysis=cmd_show)
