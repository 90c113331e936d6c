"""Where dashboard pages get their data: view models and the sources that produce them.

Sandboxes, host facts and account data come from services that exist (`SandboxBoard`,
`SystemFacts`). Tasks, attention, templates, workspaces, dev commands, OpenCode config and
git sources are read through the Protocols in `protocols.py`; a `Sources` field left at None
makes its page say "not available on this manager yet".
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.web.sources.models import (
    TASK_STATUSES,
    AttentionAnswer,
    AttentionItem,
    AttentionOption,
    AttentionQuestion,
    DefinitionProblem,
    DevCommandView,
    DiffFile,
    LogChunk,
    PrebuildState,
    Progress,
    TaskAction,
    TaskDetail,
    TaskDraft,
    TaskSession,
    TaskSummary,
    TemplateView,
    Todo,
    WorkspaceDetail,
    WorkspaceSummary,
)
from atelier.web.sources.protocols import (
    AttentionSource,
    DevCommandSource,
    GitSourceSource,
    OpencodeConfigSource,
    TaskSource,
    TemplateSource,
    WorkspaceSource,
)


@dataclass
class Sources:
    """The optional data sources of one dashboard (None: not available yet)."""

    attention: AttentionSource | None = None
    tasks: TaskSource | None = None
    templates: TemplateSource | None = None
    workspaces: WorkspaceSource | None = None
    dev_commands: DevCommandSource | None = None
    opencode_config: OpencodeConfigSource | None = None
    git_sources: GitSourceSource | None = None


__all__ = [
    "TASK_STATUSES",
    "AttentionAnswer",
    "AttentionItem",
    "AttentionOption",
    "AttentionQuestion",
    "AttentionSource",
    "DefinitionProblem",
    "DevCommandSource",
    "DevCommandView",
    "DiffFile",
    "GitSourceSource",
    "LogChunk",
    "OpencodeConfigSource",
    "PrebuildState",
    "Progress",
    "Sources",
    "TaskAction",
    "TaskDetail",
    "TaskDraft",
    "TaskSession",
    "TaskSource",
    "TaskSummary",
    "TemplateSource",
    "TemplateView",
    "Todo",
    "WorkspaceDetail",
    "WorkspaceSource",
    "WorkspaceSummary",
]
