"""Errors of the guest agent client.

AtelierError
└── AgentError                    something went wrong talking to a guest agent (502)
    ├── AgentUnavailable          the agent cannot be reached right now (503, an Unavailable)
    │   ├── AgentDisconnected     the connection dropped while a call was in flight
    │   └── AgentTimeout          the agent did not answer in time
    ├── AgentIncompatible         the agent speaks a protocol version outside the accepted range
    ├── AgentProtocolError        the agent sent frames or messages that break the protocol
    ├── AgentUnauthorized         the agent refused the token (a Forbidden)
    └── AgentRemoteError          the agent carried out the call and reported a failure
        ├── AgentNotFound         no such file, session, service or user (a NotFound)
        ├── AgentBadRequest       the arguments were refused (a ValidationError)
        ├── AgentConflict         the guest state forbids it, e.g. a directory is not empty
        ├── AgentTooLarge         a size limit was hit (a LimitExceeded)
        ├── AgentPermissionDenied the guest refused access (a Forbidden)
        ├── AgentUnsupported      this agent cannot do that (e.g. no --system)
        └── AgentExecFailed       the command could not be started

`from_remote()` maps the agent's error codes (`atelier.guest.protocol.E_*`) onto this tree.
"""

from __future__ import annotations

from typing import Any

from atelier.errors import (
    AtelierError,
    Conflict,
    Forbidden,
    LimitExceeded,
    NotFound,
    Unavailable,
    ValidationError,
)
from atelier.guest import protocol as p


class AgentError(AtelierError):
    """A guest agent call failed."""

    code = "agent_error"
    status = 502


class AgentUnavailable(AgentError, Unavailable):
    """The agent cannot be reached (VM not booted yet, socket missing, connection refused)."""

    code = "agent_unavailable"
    status = 503


class AgentDisconnected(AgentUnavailable):
    """The connection to the agent dropped while the call was in flight."""

    code = "agent_disconnected"


class AgentTimeout(AgentUnavailable):
    """The agent did not answer within the call's timeout."""

    code = "agent_timeout"


class AgentIncompatible(AgentError):
    """The agent's protocol version is outside the range this host accepts."""

    code = "agent_incompatible"


class AgentProtocolError(AgentError):
    """The agent broke the wire protocol."""

    code = "agent_protocol_error"


class AgentUnauthorized(AgentError, Forbidden):
    """The agent refused the token (wrong VM, or a token rotated away)."""

    code = "agent_unauthorized"
    status = 502


class AgentRemoteError(AgentError):
    """The agent reported a failure; `remote_code` is its error code."""

    code = "agent_remote_error"

    def __init__(self, message: str, *, remote_code: str = p.E_INTERNAL, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.remote_code = remote_code


class AgentNotFound(AgentRemoteError, NotFound):
    """The file, session, service or user does not exist in the guest."""

    code = "agent_not_found"
    status = 404


class AgentBadRequest(AgentRemoteError, ValidationError):
    """The agent refused the arguments."""

    code = "agent_bad_request"
    status = 400


class AgentConflict(AgentRemoteError, Conflict):
    """The guest's state forbids the call."""

    code = "agent_conflict"
    status = 409


class AgentTooLarge(AgentRemoteError, LimitExceeded):
    """A size limit in the agent was hit."""

    code = "agent_too_large"
    status = 413


class AgentPermissionDenied(AgentRemoteError, Forbidden):
    """The guest refused access."""

    code = "agent_permission_denied"
    status = 403


class AgentUnsupported(AgentRemoteError):
    """This agent cannot do that."""

    code = "agent_unsupported"
    status = 501


class AgentExecFailed(AgentRemoteError):
    """The command could not be started in the guest."""

    code = "agent_exec_failed"
    status = 400


_REMOTE: dict[str, type[AgentRemoteError]] = {
    p.E_NOT_FOUND: AgentNotFound,
    p.E_BAD_REQUEST: AgentBadRequest,
    p.E_UNKNOWN_OP: AgentUnsupported,
    p.E_UNSUPPORTED: AgentUnsupported,
    p.E_EXISTS: AgentConflict,
    p.E_CONFLICT: AgentConflict,
    p.E_NOT_A_DIRECTORY: AgentConflict,
    p.E_IS_A_DIRECTORY: AgentConflict,
    p.E_PERMISSION: AgentPermissionDenied,
    p.E_TOO_LARGE: AgentTooLarge,
    p.E_NO_SPACE: AgentTooLarge,
    p.E_EXEC_FAILED: AgentExecFailed,
}


def from_remote(op: str, error: Any) -> AgentError:
    """The AgentError for an agent's `{"code", "message", "field"?, "hint"?}`."""
    if not isinstance(error, dict):
        return AgentProtocolError(f"agent answered {op} with a malformed error: {error!r}")
    code = str(error.get("code", p.E_INTERNAL))
    message = f"{op}: {error.get('message', 'failed')}"
    field = error.get("field") if isinstance(error.get("field"), str) else None
    hint = error.get("hint") if isinstance(error.get("hint"), str) else None
    if code == p.E_UNAUTHORIZED:
        return AgentUnauthorized(message, hint=hint or "use the VM's current token")
    if code in (p.E_HANDSHAKE, p.E_INCOMPATIBLE):
        return AgentIncompatible(message, hint=hint)
    if code == p.E_TIMEOUT:
        return AgentTimeout(message, hint=hint)
    cls = _REMOTE.get(code, AgentRemoteError)
    return cls(message, remote_code=code, field=field, hint=hint)
