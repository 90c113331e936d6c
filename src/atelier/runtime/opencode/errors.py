"""Errors of the OpenCode server client.

AtelierError
└── OpencodeError              OpenCode answered in a way the client cannot use (502)
    ├── OpencodeUnavailable    OpenCode cannot be reached or did not answer in time (503)
    ├── OpencodeRejected       OpenCode refused the request (4xx other than 404)
    └── OpencodeGone           the session, permission or question no longer exists (404)
"""

from __future__ import annotations

from atelier.errors import AtelierError, NotFound, Unavailable


class OpencodeError(AtelierError):
    """A call to a sandbox's OpenCode server failed."""

    code = "opencode_error"
    status = 502


class OpencodeUnavailable(OpencodeError, Unavailable):
    """OpenCode is not reachable (still starting, stopped, or the sandbox is down)."""

    code = "opencode_unavailable"
    status = 503


class OpencodeRejected(OpencodeError):
    """OpenCode answered 4xx: the request was refused."""

    code = "opencode_rejected"
    status = 502


class OpencodeGone(OpencodeError, NotFound):
    """The object no longer exists in OpenCode (answered elsewhere, expired, deleted)."""

    code = "opencode_gone"
    status = 404
