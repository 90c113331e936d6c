"""The OpenCode server client: typed API, HTTP client, event follower and config section."""

from atelier.runtime.opencode.base import ModelRef, OpencodeApi, PermissionReply, Prompt
from atelier.runtime.opencode.client import OpencodeClient
from atelier.runtime.opencode.config import OPENCODE_PACKAGE, OPENCODE_VERSION, OpencodeConfig
from atelier.runtime.opencode.errors import (
    OpencodeError,
    OpencodeGone,
    OpencodeRejected,
    OpencodeUnavailable,
)
from atelier.runtime.opencode.follower import Backoff, EventFollower, FollowerState
from atelier.runtime.opencode.models import (
    IDLE,
    Health,
    MessageInfo,
    OpencodeEvent,
    Pending,
    PermissionRequest,
    Question,
    QuestionOption,
    QuestionRequest,
    Session,
    SessionStatus,
    Todo,
)

__all__ = [
    "IDLE",
    "OPENCODE_PACKAGE",
    "OPENCODE_VERSION",
    "Backoff",
    "EventFollower",
    "FollowerState",
    "Health",
    "MessageInfo",
    "ModelRef",
    "OpencodeApi",
    "OpencodeClient",
    "OpencodeConfig",
    "OpencodeError",
    "OpencodeEvent",
    "OpencodeGone",
    "OpencodeRejected",
    "OpencodeUnavailable",
    "Pending",
    "PermissionReply",
    "PermissionRequest",
    "Prompt",
    "Question",
    "QuestionOption",
    "QuestionRequest",
    "Session",
    "SessionStatus",
    "Todo",
]
