"""Verdicts from stored results: two-sample tests, step detection, series, run-to-run diffs,
bisection and variant metrics; never imports the runner, so it works on any results."""
