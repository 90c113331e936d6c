"""The guest service registry: one JSON file per service, validated into `ServiceSpec`s.

Images bake `/etc/atelier/services.d/<name>.json`; the manager defines services at run time
(dev commands) through the agent, which writes `/var/lib/atelier/services.d/<name>.json`. A
later directory overrides an earlier one by name. Unknown keys and wrong types are errors that
name the file and the field; a broken file disables only its own service. See
docs/agent-protocol.md ("Service registry") for the format.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RESTART_POLICIES = ("always", "on-failure", "no")
SIGNALS = ("TERM", "INT", "HUP", "QUIT", "KILL", "USR1", "USR2")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
BUILTIN_SSHD = {
    "description": "OpenSSH server",
    "argv": ["/usr/sbin/sshd", "-D", "-e"],
    "dirs": ["/run/sshd"],
    "restart": "always",
    "port": 22,
}


class SpecError(ValueError):
    """A service definition is invalid; the message names the field."""


def valid_name(name: str) -> bool:
    return 0 < len(name) <= 63 and name[0].isalnum() and set(name) <= _NAME_CHARS


class ServiceSpec:
    """A validated service definition."""

    FIELDS = (
        "name", "description", "argv", "shell", "user", "env", "cwd", "autostart", "restart",
        "restart_delay_s", "restart_max_delay_s", "stop_signal", "stop_timeout_s", "dirs", "port",
        "log_max_bytes",
    )  # fmt: skip

    def __init__(self, name: str, data: dict[str, Any], source: str = "") -> None:
        if not valid_name(name):
            raise SpecError(
                f"name {name!r} must be 1-63 of a-z 0-9 - _ . starting with a letter or digit"
            )
        unknown = sorted(set(data) - set(self.FIELDS))
        if unknown:
            raise SpecError(
                f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(self.FIELDS)}"
            )
        if data.get("name", name) != name:
            raise SpecError(f"field 'name' is {data['name']!r} but the file defines {name!r}")
        self.name = name
        self.source = source
        self.description = _get(data, "description", str, "")
        argv = data.get("argv")
        shell = data.get("shell")
        if (argv is None) == (shell is None):
            raise SpecError("give exactly one of 'argv' (list of strings) or 'shell' (string)")
        if argv is not None:
            if (
                not isinstance(argv, list)
                or not argv
                or not all(isinstance(a, str) and a for a in argv)
            ):
                raise SpecError("field 'argv' must be a non-empty list of non-empty strings")
            self.argv: list[str] = argv
        else:
            if not isinstance(shell, str) or not shell:
                raise SpecError("field 'shell' must be a non-empty string")
            self.argv = ["/bin/sh", "-c", shell]
        self.user = _get(data, "user", str, "root")
        self.env: dict[str, str] = _get(data, "env", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            raise SpecError("field 'env' must map strings to strings")
        self.cwd: str | None = _get(data, "cwd", str, None)
        self.autostart = _get(data, "autostart", bool, False)
        self.restart = _get(data, "restart", str, "on-failure")
        if self.restart not in RESTART_POLICIES:
            raise SpecError(
                f"field 'restart' is {self.restart!r}; allowed: {', '.join(RESTART_POLICIES)}"
            )
        self.restart_delay_s = max(0.1, float(_get(data, "restart_delay_s", (int, float), 1.0)))
        self.restart_max_delay_s = max(
            self.restart_delay_s, float(_get(data, "restart_max_delay_s", (int, float), 30.0))
        )
        self.stop_signal = _get(data, "stop_signal", str, "TERM").upper().removeprefix("SIG")
        if self.stop_signal not in SIGNALS:
            raise SpecError(
                f"field 'stop_signal' is {self.stop_signal!r}; allowed: {', '.join(SIGNALS)}"
            )
        self.stop_timeout_s = float(_get(data, "stop_timeout_s", (int, float), 10.0))
        self.dirs: list[str] = _get(data, "dirs", list, [])
        if not all(isinstance(d, str) and d.startswith("/") for d in self.dirs):
            raise SpecError("field 'dirs' must list absolute paths")
        self.port: int | None = _get(data, "port", int, None)
        self.log_max_bytes = int(_get(data, "log_max_bytes", int, 8 << 20))
        self.raw = data

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw, name=self.name)


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(key, default)
    if value is None or value is default:
        return value
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SpecError(f"field {key!r} must be {names}, got {type(value).__name__}")
    return value


def parse(name: str, text: str, source: str = "") -> ServiceSpec:
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError("the file must hold a JSON object")
    return ServiceSpec(name, data, source)


def load(
    dirs: tuple[str, ...] | list[str], builtins: bool = False
) -> tuple[dict[str, ServiceSpec], dict[str, str]]:
    """Every service defined in `dirs` (later dirs win) and the errors of broken files."""
    specs: dict[str, ServiceSpec] = {}
    errors: dict[str, str] = {}
    if builtins and os.access("/usr/sbin/sshd", os.X_OK):
        specs["sshd"] = ServiceSpec("sshd", dict(BUILTIN_SSHD), "builtin")
    for directory in dirs:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
        except OSError:
            continue
        for filename in names:
            name = filename[: -len(".json")]
            path = os.path.join(directory, filename)
            try:
                with open(path) as fh:
                    specs[name] = parse(name, fh.read(), path)
                errors.pop(name, None)
            except (OSError, SpecError) as exc:
                errors[name] = f"{path}: {exc}"
                specs.pop(name, None)
    return specs, errors
