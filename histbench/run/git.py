"""Git: which commits a range means, their metadata, and a private checkout to build from.

The user's working tree and HEAD are never touched: builds happen in a clone under
``env_dir`` that shares the user's object store (``git clone --shared``), so every commit
the user has, even unpushed or detached, can be checked out there without a fetch.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

import git

from histbench.core.errors import HistbenchError
from histbench.store.results import CommitInfo


class Repo:
    def __init__(self, path: Path):
        try:
            self.repo = git.Repo(path, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise HistbenchError(f"{path}: not a git repository") from None
        self.path = Path(path)

    def rev(self, spec: str) -> str:
        _check_spec(spec)
        try:
            return self.repo.git.rev_parse("--verify", "--quiet", f"{spec}^{{commit}}")
        except git.GitCommandError:
            raise HistbenchError(f"{spec!r}: no such commit in {self.path}") from None

    def first_parent(self, spec: str) -> list[str]:
        """Commits of a range, oldest first, walked first-parent as a release history is."""
        _check_spec(spec)
        try:
            out = self.repo.git.rev_list("--first-parent", "--reverse", spec)
        except git.GitCommandError as exc:
            raise HistbenchError(f"{spec!r}: not a commit range git understands "
                                 f"({_git_message(exc)})") from None
        return out.split()

    def info(self, sha: str, branch: str = "") -> CommitInfo:
        commit = self.repo.commit(sha)
        return CommitInfo(hash=commit.hexsha, date=float(commit.authored_date),
                          author=commit.author.name or "", subject=commit.summary,
                          parents=[p.hexsha for p in commit.parents], branch=branch)

    def infos(self, shas: Iterable[str], branch: str = "") -> list[CommitInfo]:
        return [self.info(s, branch) for s in shas]


def _check_spec(spec: str) -> None:
    """A commit or range from the user (or the config's branches) must not reach git as an
    option: ``--output=FILE`` would have git truncate that file."""
    if any(part.strip().startswith("-") for part in re.split(r"\.\.\.?", spec)) or not spec:
        raise HistbenchError(f"{spec!r}: not a commit or range (a name cannot start with "
                             "'-', which git would read as an option)")


def _git_message(exc: git.GitCommandError) -> str:
    """git's own explanation: its ``fatal:`` line, not the usage hint that follows it."""
    lines = [ln.strip().removeprefix("stderr: ").strip("'").strip()
             for ln in str(exc.stderr or "").splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["git failed"])[0]


def resolve_range(repo: Repo, spec: str, *, branches: list[str], measured: set[str],
                  steps: int | None = None) -> list[CommitInfo]:
    """Turn a range spec into commits, oldest first.

    Plain git specs (``A..B``, ``HEAD~5..HEAD``, a branch, a single hash) plus:
    ``ALL`` every commit of the configured branches; ``NEW`` the commits after the newest
    one measured on this machine; ``EXISTING`` the commits already measured;
    ``HASHFILE:path`` one hash a line (``-`` reads stdin).
    """
    branch = branches[0] if branches else ""
    if spec == "ALL":
        shas = branch_commits(repo, branches)
    elif spec == "NEW":
        shas = branch_commits(repo, branches)
        done = [i for i, s in enumerate(shas) if s in measured]
        shas = shas[done[-1] + 1:] if done else shas
    elif spec == "EXISTING":
        shas = [s for s in branch_commits(repo, branches) if s in measured]
        shas += sorted(measured - set(shas))
    elif spec.startswith("HASHFILE:"):
        shas = [repo.rev(h) for h in _read_hashfile(spec.removeprefix("HASHFILE:"))]
        branch = ""
    elif ".." in spec:
        shas = repo.first_parent(spec)
    else:
        # A single commit means that commit alone; a branch name means its whole history.
        if spec in {h.name for h in repo.repo.heads} or spec in _remote_names(repo):
            shas = repo.first_parent(spec)
            branch = spec
        else:
            shas = [repo.rev(spec)]
    shas = list(dict.fromkeys(shas))
    if not shas and spec not in ("NEW", "EXISTING"):  # those two may rightly be empty
        raise HistbenchError(f"{spec}: no commits in this range (A..B is the first-parent "
                             "commits after A up to B; is it the wrong way round?)")
    if steps and steps < len(shas):
        shas = spaced(shas, steps)
    return repo.infos(shas, branch)


def _remote_names(repo: Repo) -> set[str]:
    return {r.name for r in repo.repo.refs if r.path.startswith("refs/remotes/")}


def all_commits(repo: Repo) -> frozenset[str]:
    """Every commit reachable from a ref: what a result's commit must be to have a place."""
    try:
        return frozenset(repo.repo.git.rev_list("--all").split())
    except git.GitCommandError:
        return frozenset()


def branch_commits(repo: Repo, branches: list[str], *, missing_ok: bool = False) -> list[str]:
    """First-parent history of the branches, oldest first, each commit once."""
    shas: list[str] = []
    for name in branches or ["HEAD"]:
        try:
            shas.extend(repo.first_parent(name))
        except HistbenchError:
            if not missing_ok:
                raise
    return list(dict.fromkeys(shas))


HASHFILE_LIMIT = 16 * 2**20  # bytes: a few hundred thousand hashes, far more than a history


def _read_hashfile(path: str) -> list[str]:
    """One hash a line, read up to a bound: ``HASHFILE:/dev/zero`` or a huge file is an
    error, not a run that reads until the machine runs out of memory."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(HASHFILE_LIMIT + 1)
        elif not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block for ever
            raise HistbenchError(f"{path}: cannot read hash file (not a regular file)")
        else:
            with open(path, "rb") as f:
                data = f.read(HASHFILE_LIMIT + 1)
    except OSError as exc:
        raise HistbenchError(f"{path}: cannot read hash file ({exc.strerror})") from None
    if len(data) > HASHFILE_LIMIT:
        raise HistbenchError(f"{path}: hash file larger than {HASHFILE_LIMIT >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HistbenchError(f"{path}: not a hash file (not UTF-8 text)") from None
    if "\0" in text:
        raise HistbenchError(f"{path}: not a hash file (binary data)")
    return [ln.split()[0] for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def spaced(items: list, count: int) -> list:
    """``count`` evenly spaced items, always keeping the first and the last."""
    if count <= 1:
        return items[-1:]
    last = len(items) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]


def parse_shard(spec: str) -> tuple[int, int]:
    """``I/N`` as (I, N)."""
    try:
        index, total = (int(x) for x in spec.split("/"))
    except ValueError:
        raise HistbenchError(f"--shard {spec!r}: expected I/N, e.g. 1/4") from None
    if not 1 <= index <= total:
        raise HistbenchError(f"--shard {spec!r}: I must be between 1 and N")
    return index, total


def shard(items: list, spec: str) -> list:
    """``I/N``: every N-th item starting at I-1, so each shard spans the whole range (the
    overlap commit every shard also measures is commit_plan's business)."""
    index, total = parse_shard(spec)
    return items[index - 1::total]


class BuildCheckout:
    """A private clone under env_dir, checked out at one commit at a time."""

    def __init__(self, source: Path, where: Path):
        self.source = Path(source).resolve()
        self.path = Path(where)
        try:
            if (self.path / ".git").exists():
                self.repo = git.Repo(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.repo = git.Repo.clone_from(str(self.source), str(self.path), shared=True,
                                                no_checkout=True)
        except git.GitCommandError as exc:
            raise HistbenchError(f"cannot clone {self.source} into {self.path}: "
                                 f"{_git_message(exc)}") from None

    def checkout(self, sha: str) -> Path:
        try:
            self.repo.git.checkout("--quiet", "--force", "--detach", sha)
            self.repo.git.clean("-qffdx")
        except git.GitCommandError as exc:
            raise HistbenchError(f"cannot check out {sha[:8]} in {self.path}: "
                                 f"{_git_message(exc)}") from None
        return self.path
