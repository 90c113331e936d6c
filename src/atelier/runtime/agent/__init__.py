"""The host side of the guest agent: endpoints, transports and the asyncio `AgentClient`."""

from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.agent.errors import (
    AgentDisconnected,
    AgentError,
    AgentIncompatible,
    AgentRemoteError,
    AgentTimeout,
    AgentUnauthorized,
    AgentUnavailable,
)
from atelier.runtime.agent.models import (
    DirEntry,
    ExecResult,
    FileStat,
    GitStatus,
    Health,
    Metrics,
    PtyInfo,
    ServiceLogs,
    ServiceStatus,
)
from atelier.runtime.agent.process import ExecProcess, PtyHandle

__all__ = [
    "AgentClient",
    "AgentDisconnected",
    "AgentEndpoint",
    "AgentError",
    "AgentIncompatible",
    "AgentRemoteError",
    "AgentTimeout",
    "AgentUnauthorized",
    "AgentUnavailable",
    "DirEntry",
    "ExecProcess",
    "ExecResult",
    "FileStat",
    "GitStatus",
    "Health",
    "Metrics",
    "PtyHandle",
    "PtyInfo",
    "ServiceLogs",
    "ServiceStatus",
]
