"""The CI recipes of examples/ci/ (docs/ci.md), kept true: every file parses as YAML (with
PyYAML, the parser most tools use), and the shell steps of each workflow run, in order, as
the CI system would run them, against a toy project in a temporary folder: a local bare
repository stands for the hosted one (its results branch included), a fresh clone for each
job's ephemeral runner.

What the test does in place of the CI system, and nothing more: it checks out the
repository (a clone with its whole history), sets the variables the CI system sets (and
the values of the ``${{ }}`` expressions the files use, listed below: an unknown one fails
the test), hands artifacts from job to job, and puts a ``histbench`` of this tree on PATH
instead of the ``pip install histbench`` step. Caching steps do nothing: the toy project's
env_dir is the session's shared one. Runs are made with ``--quick`` through the files'
own ``HISTBENCH_RUN_ARGS`` variable (the one a user sets to add options); the pull-request
checks run at the suite's own (small) sample counts, since one sample a side can never
be significant."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from toyrepo import ToyCommit, git, make_repo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ci"
FILES = ["github-nightly.yml", "github-pr.yml", "github-shards.yml", "gitlab-ci.yml"]
FAST_ATTRS = {"rounds": 1, "repeat": 5, "warmup_time": 0.02}
QUICK = {"HISTBENCH_RUN_ARGS": "--quick"}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


# --------------------------------------------------------------------------- the files


@pytest.mark.parametrize("name", FILES)
def test_recipes_parse_as_yaml(name):
    data = load(name)
    assert isinstance(data, dict)
    if name.startswith("github"):
        assert True in data or "on" in data  # YAML 1.1 reads the key `on` as true
        for job in data["jobs"].values():
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step
                if "run" in step:  # the shell sees no expressions: they go through env
                    assert "${{" not in step["run"], step["run"]
                if step.get("uses", "").startswith("actions/checkout"):
                    assert step["with"]["fetch-depth"] == 0
    else:
        jobs = {k: v for k, v in data.items() if isinstance(v, dict) and "script" in v}
        assert {"pages", "backfill-shard", "benchmark-mr"} <= set(jobs)
        assert data["variables"]["GIT_DEPTH"] == "0"
        assert all(isinstance(line, str) for job in jobs.values() for line in job["script"])


def test_docs_and_readme_point_at_the_recipes():
    docs = (ROOT / "docs" / "ci.md").read_text()
    for name in FILES:
        assert f"examples/ci/{name}" in docs
    assert "docs/ci.md" in (ROOT / "README.md").read_text()
    assert "pyyaml" in (ROOT / "pyproject.toml").read_text().lower()


# --------------------------------------------------------------------------- a fake CI


@dataclass
class Remote:
    """The hosted repository: a bare one, with its results branch once a job pushed it."""

    path: Path

    def files(self, branch: str = "histbench-results") -> list[str]:
        return git(self.path, "ls-tree", "-r", "--name-only", branch).splitlines()

    def log(self, branch: str = "histbench-results") -> list[str]:
        return git(self.path, "log", "--format=%H", branch).splitlines()


@dataclass
class Step:
    name: str
    returncode: int
    stdout: str
    stderr: str
    summary: str = ""


@dataclass
class CI:
    """What the CI system does around the shell steps: clones, variables, artifacts."""

    tmp: Path
    remote: Remote
    artifacts: Path = field(init=False)
    bin: Path = field(init=False)
    jobs: int = 0

    def __post_init__(self):
        self.artifacts = self.tmp / "artifacts"
        self.bin = self.tmp / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        wrapper = self.bin / "histbench"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m histbench "$@"\n')
        wrapper.chmod(0o755)

    def checkout(self, ref: str = "main") -> Path:
        """A fresh runner: the repository cloned with its whole history, at ``ref``."""
        self.jobs += 1
        workspace = self.tmp / f"runner-{self.jobs}"
        subprocess.run(["git", "clone", "-q", str(self.remote.path), str(workspace)],
                       check=True)
        git(workspace, "checkout", "-q", "--detach", ref)
        return workspace

    def base_env(self, workspace: Path) -> dict[str, str]:
        keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "HISTBENCH_CACHE_KEY")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT),
                   CI="true", GIT_TERMINAL_PROMPT="0")
        return env

    def shell(self, script: str, workspace: Path, env: dict[str, str], name: str) -> Step:
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               script], cwd=workspace, env=env, capture_output=True,
                              text=True, timeout=300)
        return Step(name, proc.returncode, proc.stdout, proc.stderr)


def expand(text, values: dict[str, str]):
    """``${{ expr }}`` as the CI system would fill it in, from the values the test knows."""
    if not isinstance(text, str):
        return text

    def value(match: re.Match) -> str:
        expr = match.group(1)
        if expr.startswith("env.") and expr[4:] in values:
            return values[expr[4:]]
        assert expr in values, f"the test does not know ${{{{ {expr} }}}}: add it"
        return values[expr]

    return EXPRESSION.sub(value, str(text))


def run_github_job(ci: CI, workflow: str, job_name: str, workspace: Path, *,
                   values: dict[str, str] | None = None,
                   overrides: dict[str, str] | None = None) -> list[Step]:
    """One job of a workflow: its shell steps in order, as the runner runs them (bash -e
    -o pipefail, the workflow's, job's and step's env), stopping at the first failure."""
    data = load(workflow)
    job = data["jobs"][job_name]
    values = {"github.sha": git(workspace, "rev-parse", "HEAD"), **(values or {})}
    env = ci.base_env(workspace)
    env.update(GITHUB_WORKSPACE=str(workspace), GITHUB_SHA=values["github.sha"],
               RUNNER_TEMP=str(ci.tmp))
    for scope in (data.get("env", {}), job.get("env", {})):
        env.update({k: expand(v, {**values, **env}) for k, v in scope.items()})
    env.update(overrides or {})
    outputs = ci.tmp / f"output-{ci.jobs}"
    steps = []
    for k, step in enumerate(job["steps"]):
        uses = step.get("uses", "")
        if uses:
            _github_action(ci, uses, step.get("with", {}), workspace, {**values, **env})
            continue
        if step["name"].startswith("Install histbench"):
            continue  # the histbench of this tree is on PATH
        summary = ci.tmp / f"summary-{ci.jobs}-{k}.md"
        summary.write_text("")
        step_env = {**env, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary),
                    **{key: expand(v, {**values, **env})
                       for key, v in step.get("env", {}).items()}}
        done = ci.shell(step["run"], workspace, step_env, step["name"])
        done.summary = summary.read_text()
        steps.append(done)
        if done.returncode:
            break
    return steps


def _github_action(ci: CI, uses: str, given: dict, workspace: Path, values: dict) -> None:
    given = {k: expand(v, values) if k in ("path", "name", "pattern") else v
             for k, v in given.items()}
    action = uses.split("@")[0]
    if action == "actions/checkout":
        assert given.get("fetch-depth") == 0  # done by CI.checkout: the whole history
    elif action in ("actions/setup-python", "actions/cache", "actions/cache/restore",
                    "actions/deploy-pages"):
        pass  # the interpreter running the tests; env_dir shared; no Pages server here
    elif action == "actions/upload-pages-artifact":
        assert (workspace / given["path"] / "index.html").is_file()
    elif action == "actions/upload-artifact":
        shutil.copytree(workspace / given["path"], ci.artifacts / given["name"])
    elif action == "actions/download-artifact":
        for found in sorted(ci.artifacts.iterdir()):
            if fnmatch.fnmatch(found.name, given["pattern"]):
                shutil.copytree(found, workspace / given["path"] / found.name)
    else:
        raise AssertionError(f"the test does not know the action {uses}")


def ok(steps: list[Step]) -> str:
    """The steps' output, after checking that every one of them succeeded."""
    for step in steps:
        assert step.returncode == 0, f"{step.name}: exit {step.returncode}\n{step.stderr}"
    return "".join(s.stdout + s.stderr for s in steps)


def toy_remote(tmp: Path, name: str, commits: list[ToyCommit], env_dir: Path) -> tuple[Path,
                                                                                         Remote]:
    """A toy project pushed to a bare repository: the hosted one."""
    source = tmp / f"{name}-source"
    make_repo(source, commits, bench_attrs=FAST_ATTRS, config={"env_dir": str(env_dir)})
    bare = tmp / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    git(source, "remote", "add", "origin", str(bare))
    return source, Remote(bare)


def add_commit(source: Path, work: int, subject: str, branch: str = "main") -> str:
    """A developer's commit, pushed to the hosted repository."""
    git(source, "checkout", "-q", "-B", branch, "main")
    (source / "toypkg" / "__init__.py").write_text(
        f"# {subject}\nWORK = {work}\n\n\ndef compute(n=WORK):\n    total = 0\n"
        "    for i in range(n):\n        total += i % 7\n    return total\n")
    git(source, "commit", "-qam", subject)
    git(source, "push", "-q", "-f", "origin", branch)
    git(source, "checkout", "-q", "main")
    return git(source, "rev-parse", branch)


# --------------------------------------------------------------------------- GitHub


MACHINE = "gha-ubuntu-24.04"


def test_github_nightly_pull_requests_and_sharded_backfill(tmp_path, shared_env_dir):
    source, remote = toy_remote(tmp_path, "project", [ToyCommit()] * 4, shared_env_dir)
    ci = CI(tmp_path, remote)

    # first night: no results branch yet; every commit measured, saved, published
    workspace = ci.checkout()
    out = ok(run_github_job(ci, "github-nightly.yml", "benchmark", workspace,
                            overrides=QUICK))
    assert "no histbench-results branch yet" in out and "4 commits measured" in out
    files = remote.files()
    assert len([f for f in files if re.fullmatch(rf"{MACHINE}/[0-9a-f]{{12}}-.*\.json", f)
                and not f.endswith(("machine.json", "calibration.json"))]) == 4
    assert {f"{MACHINE}/machine.json", "benchmarks.json", ".gitignore"} <= set(files)
    assert ".histbench.lock" not in files
    assert (workspace / "html" / "index.html").is_file()
    first = remote.log()

    # second night, a new runner: one new commit, and only it is measured
    new = add_commit(source, 20_000, "a new commit")
    workspace = ci.checkout()
    out = ok(run_github_job(ci, "github-nightly.yml", "benchmark", workspace,
                            overrides=QUICK))
    assert "1 commits measured" in out
    log = remote.log()
    assert len(log) == 2 and log[1] == first[0]
    changed = git(remote.path, "diff", "--name-status", log[1], log[0]).splitlines()
    added = [line.split("\t")[1] for line in changed if line.startswith("A")]
    assert len(added) == 1 and added[0].startswith(f"{MACHINE}/{new[:12]}-"), changed
    saved = json.loads(git(remote.path, "show", f"histbench-results:{added[0]}"))
    assert saved["fingerprint"]["cores"] == os.cpu_count()
    assert saved["machine"] == MACHINE

    # a pull request 10x slower: the check fails, after a second measurement confirms it
    base = git(source, "rev-parse", "main")
    add_commit(source, 200_000, "slow down", branch="pr-slow")
    workspace = ci.checkout("origin/pr-slow")
    values = {"github.event.pull_request.base.sha": base}
    [step] = run_github_job(ci, "github-pr.yml", "compare", workspace, values=values)
    assert step.returncode == 1, step.stderr + step.summary
    assert "regression" in step.summary and "Measured again, to confirm" in step.summary
    assert "regression confirmed" in step.stdout

    # a pull request without a regression (10x faster: no burst of load can make that
    # look slower) passes at once
    add_commit(source, 2_000, "speed up", branch="pr-fast")
    workspace = ci.checkout("origin/pr-fast")
    [step] = run_github_job(ci, "github-pr.yml", "compare", workspace, values=values)
    assert step.returncode == 0, step.stderr
    assert "improvement" in step.summary and "Measured again" not in step.summary
    assert remote.log() == log  # pull requests never push

    # a backfill over a matrix of 3 shards, after the nightlies (the first commit, every
    # shard's overlap commit, is in the history already: measured again for the overlap
    # folder only, so the merge meets no conflict), then merged, saved and published
    for k in range(3):
        add_commit(source, 20_000, f"unmeasured commit {k}")
    for shard in (1, 2, 3):
        values = {"matrix.shard": str(shard), "inputs.range": "ALL"}
        out = ok(run_github_job(ci, "github-shards.yml", "shard", ci.checkout(),
                                values=values, overrides=QUICK))
        assert "2 commits measured" in out  # its new one and the overlap commit
    workspace = ci.checkout()
    out = ok(run_github_job(ci, "github-shards.yml", "merge", workspace, overrides=QUICK))
    assert "shard offsets measured on overlap commit" in out, out
    files = remote.files()
    results = [f for f in files if re.fullmatch(rf"{MACHINE}/[0-9a-f]{{12}}-.*\.json", f)
               and not f.endswith(("machine.json", "calibration.json"))]
    assert len(results) == 8
    assert len([f for f in files if f.startswith(f"{MACHINE}/overlap/")]) == 3
    assert (workspace / "html" / "index.html").is_file()
    assert len(remote.log()) == 3


# --------------------------------------------------------------------------- GitLab


def gitlab_script(name: str) -> tuple[str, dict[str, str]]:
    """A job's before_script and script as the runner runs them (one bash, -e -o
    pipefail), and its variables; ``extends`` resolved."""
    data = load("gitlab-ci.yml")
    job = dict(data[name])
    base = data[job.pop("extends")] if "extends" in job else {}
    merged = {**base, **job, "variables": {**data["variables"], **base.get("variables", {}),
                                           **job.get("variables", {})}}
    lines = [line for line in merged.get("before_script", [])
             if "pip install histbench" not in line]  # this tree's histbench is on PATH
    return "\n".join([*lines, *merged["script"]]), merged["variables"]


def run_gitlab_job(ci: CI, name: str, workspace: Path, source: str,
                   more: dict[str, str] | None = None) -> Step:
    data = load("gitlab-ci.yml")
    rules = " ".join(rule["if"] for rule in data[name]["rules"])
    assert f'$CI_PIPELINE_SOURCE == "{source}"' in rules
    script, variables = gitlab_script(name)
    env = ci.base_env(workspace)
    env.update(variables)
    env.update(CI_PROJECT_DIR=str(workspace), CI_PIPELINE_SOURCE=source,
               CI_COMMIT_SHA=git(workspace, "rev-parse", "HEAD"),
               CI_SERVER_HOST="gitlab.example.com", RESULTS_REMOTE=str(ci.remote.path),
               **QUICK, **(more or {}))
    return ci.shell(script, workspace, env, name)


def test_gitlab_pipelines(tmp_path, shared_env_dir):
    source, remote = toy_remote(tmp_path, "project", [ToyCommit()] * 3, shared_env_dir)
    ci = CI(tmp_path, remote)
    machine = load("gitlab-ci.yml")["variables"]["HISTBENCH_MACHINE"]

    # a backfill: three parallel shards, then `pages` merges, saves and publishes
    for index in (1, 2, 3):
        workspace = ci.checkout()
        step = run_gitlab_job(ci, "backfill-shard", workspace, "web",
                              {"HISTBENCH_BACKFILL": "ALL", "CI_NODE_INDEX": str(index),
                               "CI_NODE_TOTAL": "3"})
        assert step.returncode == 0, step.stderr
        shutil.copytree(workspace / "shards", ci.artifacts / "shards", dirs_exist_ok=True)
    workspace = ci.checkout()
    shutil.copytree(ci.artifacts / "shards", workspace / "shards")
    step = run_gitlab_job(ci, "pages", workspace, "web", {"HISTBENCH_BACKFILL": "ALL"})
    assert step.returncode == 0, step.stderr
    assert "shard offsets measured on overlap commit" in step.stderr
    assert (workspace / "public" / "index.html").is_file()
    assert len([f for f in remote.files() if f.startswith(f"{machine}/overlap/")]) == 3

    # the scheduled pipeline: the one new commit measured and saved
    new = add_commit(source, 20_000, "a new commit")
    workspace = ci.checkout()
    step = run_gitlab_job(ci, "pages", workspace, "schedule")
    assert step.returncode == 0, step.stderr
    assert "1 commits measured" in step.stderr
    assert any(f.startswith(f"{machine}/{new[:12]}-") for f in remote.files())
    assert len(remote.log()) == 2

    # a merge request 10x slower: failed once measured twice
    base = git(source, "rev-parse", "main")
    add_commit(source, 200_000, "slow down", branch="mr")
    workspace = ci.checkout("origin/mr")
    step = run_gitlab_job(ci, "benchmark-mr", workspace, "merge_request_event",
                          {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
    assert step.returncode == 1, step.stderr
    summary = (workspace / "histbench-summary.md").read_text()
    assert "regression" in summary and "Measured again, to confirm" in summary
