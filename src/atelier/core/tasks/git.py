"""Git in a task's sandbox, through the guest agent: the task branch and its diff stat.

Every command runs as the OpenCode user with an argument list (values are passed as
positional parameters, never pasted into a shell string). Branch names are unique per
repository: `task/<id>`, then `task/<id>-2`, … when a name is taken. A task without a
repository gets a scratch repository in OpenCode's working directory, so it still has a
branch and a diff.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.core.tasks.progress import DiffFile, DiffStat, parse_numstat
from atelier.errors import AtelierError
from atelier.runtime.agent.client import AgentClient

GIT_TIMEOUT_S = 120.0
IDENTITY = ("-c", "user.name=Atelier", "-c", "user.email=atelier@localhost")

# $1 = base commit. Tracked changes as numstat, a marker, then line counts of new files.
DIFF_SCRIPT = """\
git diff --numstat "$1" -- || exit 1
echo '@@untracked@@'
git ls-files --others --exclude-standard -z | xargs -0 -r wc -l --
"""


class GitFailed(AtelierError):
    """A git command in the sandbox failed."""

    code = "task_git_failed"
    status = 502


@dataclass(frozen=True)
class Branched:
    """The branch a task got in one repository."""

    path: str
    branch: str
    base: str  # the commit it starts from
    source: str  # the branch (or ref) it was cut from


async def _git(agent: AgentClient, user: str, path: str, *args: str, check: bool = True) -> str:
    result = await agent.exec(
        ["git", "-C", path, *args], user=user, timeout=GIT_TIMEOUT_S, env={"LC_ALL": "C"}
    )
    if check and result.exit_code != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(
            f"git {args[0]} failed in {path}: {detail[-1] if detail else result.exit_code}",
            hint="check the repository in the sandbox",
        )
    return result.stdout.decode("utf-8", "replace") if result.exit_code == 0 else ""


async def ensure_repo(agent: AgentClient, user: str, path: str) -> None:
    """Make `path` a repository with one commit when it is none yet (scratch tasks)."""
    inside = await agent.exec(
        ["git", "-C", path, "rev-parse", "--verify", "HEAD"], user=user, timeout=GIT_TIMEOUT_S
    )
    if inside.exit_code == 0:
        return
    await agent.exec(["mkdir", "-p", path], user=user, timeout=30)
    top = await agent.exec(
        ["git", "-C", path, "rev-parse", "--show-toplevel"], user=user, timeout=GIT_TIMEOUT_S
    )
    if top.exit_code != 0:
        await _git(agent, user, path, "init", "-q", "-b", "main")
    await _git(agent, user, path, *IDENTITY, "commit", "-q", "--allow-empty", "-m", "Task start")


async def create_branch(
    agent: AgentClient, user: str, path: str, wanted: str, base: str | None
) -> Branched:
    """Check out a new branch named `wanted` (or `wanted-N` when taken) from `base`."""
    start = "HEAD"
    source = (await _git(agent, user, path, "rev-parse", "--abbrev-ref", "HEAD")).strip()
    if base:
        source = base
        for candidate in (base, f"origin/{base}"):
            if await _git(agent, user, path, "rev-parse", "--verify", "-q", candidate, check=False):
                start = candidate
                break
        else:
            raise GitFailed(f"base branch {base!r} does not exist in {path}", field="baseBranch")
    commit = (await _git(agent, user, path, "rev-parse", "--verify", start)).strip()
    name = wanted
    for attempt in range(2, 100):
        taken = await _git(
            agent, user, path, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False
        )
        if not taken:
            break
        name = f"{wanted}-{attempt}"
    await _git(agent, user, path, "checkout", "-q", "-b", name, commit)
    return Branched(path, name, commit, source)


async def diff_stat(agent: AgentClient, user: str, repos: dict[str, str]) -> DiffStat:
    """Changes since each repository's base commit (`repos`: path -> base commit)."""
    files: list[DiffFile] = []
    several = len(repos) > 1
    for path, base in repos.items():
        result = await agent.exec(
            ["sh", "-c", DIFF_SCRIPT, "sh", base], cwd=path, user=user, timeout=GIT_TIMEOUT_S
        )
        if result.exit_code != 0:
            continue
        tracked, _, untracked = result.stdout.decode("utf-8", "replace").partition("@@untracked@@")
        found = parse_numstat(tracked) + parse_wc(untracked)
        prefix = path.rstrip("/").rsplit("/", 1)[-1] + "/" if several else ""
        files += [DiffFile(prefix + f.path, f.added, f.removed, f.status) for f in found]
    return DiffStat(tuple(files))


def parse_wc(text: str) -> list[DiffFile]:
    """`wc -l` lines (`count path`) as untracked files; the `total` line is skipped."""
    files = []
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1].endswith(" total"):
        lines = lines[:-1]
    for line in lines:
        count, _, path = line.partition(" ")
        if count.isdigit() and path:
            files.append(DiffFile(path.strip(), int(count), 0, "untracked"))
    return files


async def push_branch(agent: AgentClient, user: str, path: str, branch: str) -> None:
    """Push the task branch to `origin` (credentials come from the workspace's git source)."""
    await _git(agent, user, path, "push", "-q", "-u", "origin", branch)
