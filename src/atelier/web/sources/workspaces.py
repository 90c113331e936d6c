"""Dashboard sources over the workspace subsystem: workspaces, prebuilds, dev commands, git sources.

Adapters from `atelier.core.workspaces.install.Workspaces` (workspace, prebuild, dev-command
and git-source services) to the view-model Protocols of `protocols.py`;
`workspace_sources(manager)` returns them (empty when workspaces are not installed).
Definitions are edited as YAML (JSON is YAML too); validation messages carry the line of the
field they are about. Access rules are the services' own (NotFound, Forbidden, Conflict and
ValidationError pass through).
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast, get_args

import yaml

from atelier.core.auth import Principal
from atelier.core.devcmds import DevCommandService, DevStatus
from atelier.core.lifecycle import COUNTED
from atelier.core.manager import Manager
from atelier.core.prebuilds.views import WorkspacePrebuild
from atelier.core.workspaces.gitsources import GitSources, GitSourceView
from atelier.core.workspaces.install import Workspaces, workspaces_of
from atelier.core.workspaces.service import WorkspaceRecord
from atelier.errors import Unavailable, ValidationError
from atelier.web.sources.models import (
    DefinitionProblem,
    DevCommandView,
    LogChunk,
    PrebuildState,
    WorkspaceDetail,
    WorkspaceSummary,
)

PrebuildStatus = Literal["none", "queued", "building", "ready", "failed", "stale"]
DevState = Literal["running", "stopped", "exited", "failed"]
_PREBUILD_STATUSES = set(get_args(PrebuildStatus))
# Agent service states in which a dev command may still write output.
_LIVE = frozenset({"running", "backoff", "stopping"})
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


# -- definitions as text ---------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render_definition(definition: dict[str, Any]) -> str:
    """A stored definition as YAML, keys in the order they were written."""
    return yaml.dump(definition, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def parse_text(text: str) -> Any:
    """Decode a definition's text (YAML or JSON); DefinitionProblem-carrying ValidationError."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _Unreadable(
            DefinitionProblem(
                f"not valid YAML or JSON: {problem}",
                "definition",
                mark.line + 1 if mark is not None else None,
            )
        ) from None


class _Unreadable(ValidationError):
    code = "definition_unreadable"

    def __init__(self, problem: DefinitionProblem) -> None:
        where = f" (line {problem.line})" if problem.line else ""
        super().__init__(
            f"{problem.message}{where}",
            field="definition",
            hint="check the indentation and quoting around that line",
        )
        self.problem = problem


def line_of(text: str, field: str) -> int | None:
    """The 1-based line of a field path (`dev[1].port`) in YAML text, or of its closest parent
    that exists; None when the text has no such place."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for key, index in _PATH_PART.findall(field):
        if isinstance(node, yaml.MappingNode) and key:
            match = next((pair for pair in node.value if pair[0].value == key), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    return line


# -- workspaces ------------------------------------------------------------------------


def prebuild_state(state: WorkspacePrebuild) -> PrebuildState:
    status = state.status if state.status in _PREBUILD_STATUSES else "none"
    return PrebuildState(cast(PrebuildStatus, status), state.built_at, state.message)


class WorkspaceBoard:
    """`WorkspaceSource` over the workspace and prebuild services."""

    def __init__(self, subsystem: Workspaces) -> None:
        self._ws = subsystem.workspaces
        self._prebuilds = subsystem.prebuilds

    async def _summary(self, record: WorkspaceRecord, counts: dict[str, int]) -> WorkspaceSummary:
        spec = record.spec
        return WorkspaceSummary(
            id=record.id,
            name=record.name,
            image=spec.image or self._ws.config.images.default_image,
            repos=tuple(r.url for r in spec.repos),
            vcpus=spec.resources.vcpus,
            memory_mb=spec.resources.memory_mb,
            prebuild=prebuild_state(await self._prebuilds.state(record.id)),
            sandboxes=counts.get(record.id, 0),
        )

    async def _counts(self) -> dict[str, int]:
        return await self._ws.sandbox_counts([s.value for s in COUNTED])

    async def workspaces(self, principal: Principal) -> list[WorkspaceSummary]:
        counts = await self._counts()
        return [await self._summary(r, counts) for r in await self._ws.list_visible(principal)]

    async def get(self, principal: Principal, workspace_id: str) -> WorkspaceDetail:
        record = await self._ws.get(principal, workspace_id)
        return WorkspaceDetail(
            summary=await self._summary(record, await self._counts()),
            definition=render_definition(record.definition),
            definition_format="yaml",
            secret_names=tuple(s.name for s in record.secrets if s.set),
            repo_paths=tuple(r.guest_path for r in record.spec.repos),
        )

    async def validate(self, principal: Principal, definition: str) -> list[DefinitionProblem]:
        try:
            data = parse_text(definition)
        except _Unreadable as exc:
            return [exc.problem]
        problems = await self._ws.problems(principal, data)
        return [
            DefinitionProblem(
                p.message,
                p.field,
                line_of(definition, p.field) if p.field else None,
                "warning" if p.severity == "warning" else "error",
            )
            for p in problems
        ]

    async def save(
        self, principal: Principal, workspace_id: str | None, definition: str
    ) -> WorkspaceSummary:
        data = parse_text(definition)
        if workspace_id is None:
            record = await self._ws.create(principal, data)
        else:
            record = await self._ws.replace(principal, workspace_id, data)
        return await self._summary(record, await self._counts())

    async def set_secret(
        self, principal: Principal, workspace_id: str, name: str, value: str | None
    ) -> None:
        await self._ws.set_secret(principal, workspace_id, name, value)

    async def rebuild(self, principal: Principal, workspace_id: str) -> None:
        await self._prebuilds.trigger(principal, workspace_id)

    async def logs(self, principal: Principal, workspace_id: str, offset: int = 0) -> LogChunk:
        record = await self._ws.get(principal, workspace_id)
        if (await self._prebuilds.state(record.id)).status == "none":
            return LogChunk("", offset, done=True)
        text, next_offset, done = await self._prebuilds.logs(principal, record.id, None, offset)
        return LogChunk(text, next_offset, done)


# -- dev commands ----------------------------------------------------------------------


def dev_state(status: DevStatus) -> DevState:
    """The dashboard's four states of an agent service state."""
    if status.state in ("running", "backoff"):
        return "running"
    if status.state == "failed" or (status.state == "exited" and status.exit_code):
        return "failed"
    if status.state == "exited":
        return "exited"
    return "stopped"  # stopped, stopping, not defined yet, unknown


def dev_view(status: DevStatus) -> DevCommandView:
    return DevCommandView(
        name=status.name,
        command=status.command,
        status=dev_state(status),
        port=status.port,
        url=status.url,
        exit_code=status.exit_code,
    )


class DevCommands:
    """`DevCommandSource` over the dev-command service (the sandbox must be running)."""

    def __init__(self, dev: DevCommandService) -> None:
        self._dev = dev

    async def commands(self, principal: Principal, sandbox_id: str) -> list[DevCommandView]:
        return [dev_view(s) for s in await self._dev.list(principal, sandbox_id)]

    async def start(self, principal: Principal, sandbox_id: str, name: str) -> None:
        await self._dev.start(principal, sandbox_id, name)

    async def stop(self, principal: Principal, sandbox_id: str, name: str) -> None:
        await self._dev.stop(principal, sandbox_id, name)

    async def logs(
        self, principal: Principal, sandbox_id: str, name: str, offset: int = 0
    ) -> LogChunk:
        # The state first: output read after a command stopped is all there will be.
        status = await self._dev.status(principal, sandbox_id, name)
        text, next_offset, size = await self._dev.logs(
            principal, sandbox_id, name, offset=offset, tail=None
        )
        done = status.state not in _LIVE and next_offset >= size
        return LogChunk(text, next_offset, done)


# -- git sources -----------------------------------------------------------------------


def describe_source(view: GitSourceView) -> str:
    """`name (kind on host as user)`, leaving out what the source does not say."""
    facts = view.kind
    if view.host:
        facts += f" on {view.host}"
    if view.username:
        facts += f" as {view.username}"
    return f"{view.name} ({facts})"


class GitSourceList:
    """`GitSourceSource` over the caller's git sources (secrets are never read)."""

    def __init__(self, sources: GitSources) -> None:
        self._sources = sources

    async def sources(self, principal: Principal) -> list[tuple[str, str]]:
        return [(v.id, describe_source(v)) for v in await self._sources.list(principal)]

    async def remove(self, principal: Principal, source_id: str) -> None:
        await self._sources.delete(principal, source_id)


def workspace_sources(manager: Manager) -> dict[str, Any]:
    """The `Sources` fields this subsystem fills: workspaces, dev_commands, git_sources."""
    try:
        subsystem = workspaces_of(manager)
    except Unavailable:
        return {}
    return {
        "workspaces": WorkspaceBoard(subsystem),
        "dev_commands": DevCommands(subsystem.dev),
        "git_sources": GitSourceList(subsystem.sources),
    }
