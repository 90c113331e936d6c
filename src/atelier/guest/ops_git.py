"""The `git.status` operation: branch, upstream distance, changes and a diff-stat for a path.

git runs as the owner of the repository (so its safe.directory check passes and nothing in
the repository becomes root-owned), with argument lists only, `GIT_OPTIONAL_LOCKS=0` (status
must not take the index lock under a running editor) and machine-readable formats:
`status --porcelain=v2 -z` and `diff --numstat -z <base>`. The diff-stat compares the working
tree with HEAD in one diff, so a change that is both staged and modified is counted once.
"""

from __future__ import annotations

import os

from atelier.guest import protocol as p
from atelier.guest import spawn
from atelier.guest.ops_system import run_in_worker
from atelier.guest.session import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.session import Args, Stream

MAX_FILES = 1000
GIT_TIMEOUT_S = 30.0


def parse_status(data: bytes) -> dict[str, Any]:
    """`git status --porcelain=v2 --branch -z` output as a summary."""
    result: dict[str, Any] = {
        "branch": None, "detached": False, "head": None, "upstream": None, "ahead": None,
        "behind": None, "staged": 0, "unstaged": 0, "untracked": 0, "conflicts": 0, "files": [],
    }  # fmt: skip
    records = data.decode("utf-8", "surrogateescape").split("\0")
    i = 0
    while i < len(records):
        record = records[i]
        i += 1
        if record.startswith("# "):
            _branch_header(record[2:], result)
        elif record[:2] in ("1 ", "2 ", "u "):
            fields = record.split(" ", {"1": 8, "2": 9, "u": 10}[record[0]])
            xy, path = fields[1], fields[-1]
            if record[0] == "2":
                i += 1  # the original path of a rename follows as its own record
            if record[0] == "u":
                result["conflicts"] += 1
            else:
                result["staged"] += xy[0] != "."
                result["unstaged"] += xy[1] != "."
            _add_file(result, path, xy[0], xy[1])
        elif record.startswith("? "):
            result["untracked"] += 1
            _add_file(result, record[2:], "?", "?")
    result["dirty"] = any(result[k] for k in ("staged", "unstaged", "untracked", "conflicts"))
    return result


def _branch_header(header: str, result: dict[str, Any]) -> None:
    key, _, value = header.partition(" ")
    if key == "branch.oid":
        result["head"] = None if value == "(initial)" else value
    elif key == "branch.head":
        result["detached"] = value == "(detached)"
        result["branch"] = None if result["detached"] else value
    elif key == "branch.upstream":
        result["upstream"] = value
    elif key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        result["ahead"], result["behind"] = int(ahead.lstrip("+")), int(behind.lstrip("-"))


def _add_file(result: dict[str, Any], path: str, staged: str, unstaged: str) -> None:
    if len(result["files"]) < MAX_FILES:
        result["files"].append({"path": path, "staged": staged, "unstaged": unstaged})


def parse_numstat(data: bytes) -> dict[str, Any]:
    """`git diff --numstat -z` output as per-file and total added/removed lines."""
    records = data.decode("utf-8", "surrogateescape").split("\0")
    files: list[dict[str, Any]] = []
    added = removed = 0
    i = 0
    while i < len(records):
        record = records[i]
        i += 1
        if not record:
            continue
        plus, minus, path = record.split("\t", 2)
        if not path:  # a rename: old and new paths follow as their own records
            path = records[i + 1] if i + 1 < len(records) else ""
            i += 2
        binary = plus == "-"
        n_added, n_removed = (0, 0) if binary else (int(plus), int(minus))
        added += n_added
        removed += n_removed
        if len(files) < MAX_FILES:
            files.append({"path": path, "added": n_added, "removed": n_removed, "binary": binary})
    return {"files": files, "added": added, "removed": removed}


def _git(repo: str, cred: spawn.Cred | None, *args: str) -> bytes:
    env = spawn.child_env(
        cred, {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    )
    argv = ["git", "-C", repo, "-c", "core.quotepath=off", *args]
    code, out, err = spawn.run_blocking(argv, timeout=GIT_TIMEOUT_S, cred=cred, env=env)
    if code != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {code}"
        if "not a git repository" in detail:
            raise OpError(p.E_NOT_FOUND, f"{repo} is not inside a git repository", field="path")
        raise OpError(p.E_INTERNAL, f"git {args[0]} failed in {repo}: {detail}")
    return out


def collect(repo: str, user: str | int | None) -> dict[str, Any]:
    """Everything `git.status` reports (blocking; runs in a worker)."""
    cred = spawn.lookup_user(user) if user is not None else None
    status = parse_status(_git(repo, cred, "status", "--porcelain=v2", "--branch", "-z"))
    base = (
        status["head"]
        or _git(repo, cred, "hash-object", "-t", "tree", "/dev/null").decode().strip()
    )
    status["diff"] = parse_numstat(_git(repo, cred, "diff", "--numstat", "-z", base, "--"))
    status["last_commit"] = None
    if status["head"]:
        fields = (
            _git(repo, cred, "log", "-1", "--format=%H%x00%h%x00%s%x00%an%x00%ct")
            .decode("utf-8", "replace")
            .rstrip("\n")
            .split("\0")
        )
        if len(fields) == 5:
            keys = ("hash", "short", "subject", "author")
            status["last_commit"] = dict(zip(keys, fields[:4], strict=True)) | {
                "time": int(fields[4])
            }
    status["path"] = repo
    return status


def op_status(agent: Agent, stream: Stream, args: Args) -> None:
    repo = args.path()
    try:
        st = os.stat(repo)
    except OSError as exc:
        raise OpError(p.E_NOT_FOUND, f"cannot use {repo}: {exc.strerror}", field="path") from None
    user: str | int | None = args.text("user")
    if user is None and os.getuid() == 0:
        user = st.st_uid  # the repository's owner
    run_in_worker(agent, stream, collect, (repo, user), timeout=GIT_TIMEOUT_S * 4)
