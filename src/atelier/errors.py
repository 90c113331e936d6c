"""The root of Atelier's error tree.

Every error a user can cause or act on is an `AtelierError` carrying a stable `code`, a
`message`, an optional `hint` (what to do next), an optional `field` (the input it is about)
and the HTTP `status` the API answers with. Each package adds its subclasses in its own
`errors.py`. Interfaces (API, CLI) turn these into responses in exactly one place.

    AtelierError
    ├── ConfigError                 bad configuration file or environment value
    ├── ValidationError             bad user input (400)
    ├── NotFound                    unknown object (404)
    ├── Conflict                    illegal state transition or duplicate (409)
    ├── LimitExceeded               a configured limit is reached (429)
    ├── Unauthorized / Forbidden    missing or insufficient credentials (401 / 403)
    ├── Unavailable                 a dependency is not reachable right now (503)
    └── HostError                   a host command or resource failed (500)
        ├── CommandError            a host command exited non-zero
        └── ToolMissing             a host tool is not installed
"""

from __future__ import annotations

from typing import ClassVar


class AtelierError(Exception):
    """Base class for every error Atelier reports to a user."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        if code is not None:
            self.code = code  # type: ignore[misc]  # a per-instance code refines the class code

    def to_dict(self) -> dict[str, str]:
        """The error envelope shared by the API and `--json` CLI output."""
        body = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.hint is not None:
            body["hint"] = self.hint
        return body

    def __str__(self) -> str:
        return self.message


class ConfigError(AtelierError):
    """The configuration file or an ATELIER_* variable holds a bad value."""

    code = "config_invalid"
    status = 500


class ValidationError(AtelierError):
    """User input is invalid; `field` names the offending input."""

    code = "validation_error"
    status = 400


class NotFound(AtelierError):
    """The object does not exist, or the caller may not see it."""

    code = "not_found"
    status = 404


class Conflict(AtelierError):
    """The request conflicts with the object's state (e.g. an illegal transition)."""

    code = "conflict"
    status = 409


class LimitExceeded(AtelierError):
    """A configured limit would be exceeded."""

    code = "limit_exceeded"
    status = 429


class Unauthorized(AtelierError):
    """No valid credential was presented."""

    code = "unauthorized"
    status = 401


class Forbidden(AtelierError):
    """The credential is valid but does not allow this action."""

    code = "forbidden"
    status = 403


class Unavailable(AtelierError):
    """A dependency (agent, VMM, proxy) cannot be reached right now."""

    code = "unavailable"
    status = 503


class HostError(AtelierError):
    """Something on the host failed: a command, a file, a device."""

    code = "host_error"
    status = 500


class CommandError(HostError):
    """A host command exited non-zero; carries argv, exit code and stderr tail."""

    code = "command_failed"

    def __init__(
        self,
        argv: list[str],
        returncode: int,
        stderr: str,
        *,
        hint: str | None = None,
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:]
        detail = ("\n  " + "\n  ".join(tail)) if tail else ""
        super().__init__(
            f"{argv[0]} exited with {_describe_exit(returncode)}{detail}",
            hint=hint,
        )


class ToolMissing(HostError):
    """A host tool is not installed; the message names the Debian package."""

    code = "tool_missing"

    def __init__(self, tool: str, package: str | None) -> None:
        self.tool = tool
        self.package = package
        hint = f"install it with: apt-get install {package}" if package else None
        super().__init__(f"required tool {tool!r} is not installed", hint=hint)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"{name} (killed by a signal)"
    if returncode == 127:
        return "code 127 (command not found in the child)"
    return f"code {returncode}"
