"""Errors of the SSH gateway and key handling.

AtelierError
├── ValidationError (400)
│   └── SshKeyInvalid           a public key cannot be used (format, type, size)
├── Unavailable (503)
│   └── UpstreamFailed          a guest's sshd cannot be reached or refuses the sandbox key
└── HostError (500)
    └── SshGatewayError         the gateway cannot start (port, host key)
"""

from __future__ import annotations

from atelier.errors import HostError, Unavailable, ValidationError


class SshKeyInvalid(ValidationError):
    """A public key was malformed, of a refused type, or too weak."""

    code = "ssh_key_invalid"


class SshGatewayError(HostError):
    """The gateway could not start: the port is taken or the host key is unreadable."""

    code = "ssh_gateway_error"


class UpstreamFailed(Unavailable):
    """The guest's sshd could not be reached or refused the sandbox key."""

    code = "ssh_upstream_failed"
