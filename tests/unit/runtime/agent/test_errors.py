"""The agent error tree: remote codes map onto Atelier's HTTP-level errors."""

from __future__ import annotations

import pytest

from atelier.errors import Forbidden, NotFound, Unavailable, ValidationError
from atelier.guest import protocol as p
from atelier.runtime.agent import errors as e


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        (p.E_NOT_FOUND, e.AgentNotFound, 404),
        (p.E_BAD_REQUEST, e.AgentBadRequest, 400),
        (p.E_IS_A_DIRECTORY, e.AgentConflict, 409),
        (p.E_TOO_LARGE, e.AgentTooLarge, 413),
        (p.E_PERMISSION, e.AgentPermissionDenied, 403),
        (p.E_UNSUPPORTED, e.AgentUnsupported, 501),
        (p.E_EXEC_FAILED, e.AgentExecFailed, 400),
        (p.E_UNAUTHORIZED, e.AgentUnauthorized, 502),
        (p.E_INCOMPATIBLE, e.AgentIncompatible, 502),
        (p.E_TIMEOUT, e.AgentTimeout, 503),
        ("something_new", e.AgentRemoteError, 502),
    ],
)
def test_remote_codes(code: str, cls: type[e.AgentError], status: int) -> None:
    error = e.from_remote(
        "file.read", {"code": code, "message": "boom", "field": "path", "hint": "h"}
    )
    assert type(error) is cls and error.status == status
    assert error.message == "file.read: boom"


def test_field_and_remote_code_are_kept() -> None:
    error = e.from_remote("file.read", {"code": p.E_NOT_FOUND, "message": "gone", "field": "path"})
    assert isinstance(error, e.AgentRemoteError)
    assert (error.field, error.remote_code) == ("path", p.E_NOT_FOUND)


def test_unavailable_is_a_503_unavailable() -> None:
    for cls in (e.AgentUnavailable, e.AgentDisconnected, e.AgentTimeout):
        assert issubclass(cls, Unavailable) and cls.status == 503
    assert issubclass(e.AgentNotFound, NotFound) and issubclass(e.AgentBadRequest, ValidationError)
    assert issubclass(e.AgentUnauthorized, Forbidden)


def test_malformed_error_is_a_protocol_error() -> None:
    assert isinstance(e.from_remote("x", "not a map"), e.AgentProtocolError)
