"""Import of `.devcontainer/devcontainer.json` into a workspace definition.

Fields that have an Atelier meaning are mapped (`image` → `image`, the create commands →
`init`, `forwardPorts` → `ports`, `containerEnv`/`remoteEnv` → `env`, `hostRequirements` →
`resources`, `name` → `name`); every other field, and every value that cannot be carried
over, is reported by name in `unmapped`. devcontainer.json is JSON with comments and
trailing commas (JSONC); `strip_jsonc` removes both outside strings. Pure.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atelier.errors import ValidationError

_CREATE_COMMANDS = ("onCreateCommand", "updateContentCommand", "postCreateCommand")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(tb|gb|mb|kb)?\s*$", re.IGNORECASE)
_UNIT_MB = {"tb": 1024 * 1024, "gb": 1024, "mb": 1, "kb": 1 / 1024}
_VAR_RE = re.compile(r"\$\{[^}]+\}")


@dataclass(frozen=True)
class DevcontainerImport:
    """The mapped definition, what could not be mapped (by field), and notes."""

    definition: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"definition": self.definition, "unmapped": self.unmapped, "notes": self.notes}


def strip_jsonc(text: str) -> str:
    """JSON text without `//` and `/* */` comments and trailing commas (strings untouched)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def parse_devcontainer(text: str) -> dict[str, Any]:
    """The devcontainer.json object; ValidationError when it is not JSON(C) or not an object."""
    try:
        data = json.loads(strip_jsonc(text))
    except ValueError as exc:
        raise ValidationError(
            f"devcontainer.json is not valid JSON (with comments): {exc}",
            field="devcontainer",
            hint="check it with your editor's JSONC support",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError("devcontainer.json must hold an object", field="devcontainer")
    return data


def import_devcontainer(
    text: str,
    *,
    name: str | None = None,
    default_image: str = "dev-base",
    known_images: tuple[str, ...] = (),
) -> DevcontainerImport:
    """Map a devcontainer.json onto a workspace definition, naming what did not map."""
    data = parse_devcontainer(text)
    result = _Mapper(default_image, known_images)
    definition: dict[str, Any] = {"name": _name(name or data.get("name"))}
    for key, value in data.items():
        handler = _HANDLERS.get(key)
        if handler is None:
            result.unmapped.append(key)
        else:
            handler(result, definition, key, value)
    if "image" not in definition:
        definition["image"] = default_image
    return DevcontainerImport(definition, result.unmapped, result.notes)


class _Mapper:
    def __init__(self, default_image: str, known_images: tuple[str, ...]) -> None:
        self.default_image = default_image
        self.known_images = known_images
        self.unmapped: list[str] = []
        self.notes: list[str] = []

    def image(self, definition: dict[str, Any], key: str, value: Any) -> None:
        if not isinstance(value, str):
            self.unmapped.append(key)
            return
        base = value.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
        if base in self.known_images:
            definition["image"] = base
        else:
            definition["image"] = self.default_image
            self.notes.append(
                f"image {value!r} is a container image; sandboxes use the Atelier image"
                f" {self.default_image!r} (edit `image` to choose another)"
            )

    def commands(self, definition: dict[str, Any], key: str, value: Any) -> None:
        init = definition.setdefault("init", [])
        if isinstance(value, str):
            init.append({"name": key, "command": value})
        elif isinstance(value, list) and all(isinstance(a, str) for a in value):
            init.append({"name": key, "command": shlex.join(value)})
        elif isinstance(value, dict):
            for label, command in value.items():
                if isinstance(command, str):
                    init.append({"name": f"{key}-{label}", "command": command})
                elif isinstance(command, list) and all(isinstance(a, str) for a in command):
                    init.append({"name": f"{key}-{label}", "command": shlex.join(command)})
                else:
                    self.unmapped.append(f"{key}.{label}")
        else:
            self.unmapped.append(key)

    def ports(self, definition: dict[str, Any], key: str, value: Any) -> None:
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            self.unmapped.append(key)
            return
        ports = definition.setdefault("ports", [])
        for i, port in enumerate(value):
            if isinstance(port, int) and not isinstance(port, bool) and port not in ports:
                ports.append(port)
            elif isinstance(port, str) and port.isdigit():
                ports.append(int(port))
            else:
                self.unmapped.append(f"{key}[{i}]")  # "service:port" forwards another container

    def env(self, definition: dict[str, Any], key: str, value: Any) -> None:
        if not isinstance(value, dict):
            self.unmapped.append(key)
            return
        env = definition.setdefault("env", {})
        for name, item in value.items():
            if isinstance(item, str) and not _VAR_RE.search(item):
                env[name] = item
            else:
                self.unmapped.append(f"{key}.{name}")  # ${localEnv:…} and friends

    def resources(self, definition: dict[str, Any], key: str, value: Any) -> None:
        if not isinstance(value, dict):
            self.unmapped.append(key)
            return
        res = definition.setdefault("resources", {})
        for item, amount in value.items():
            if item == "cpus" and isinstance(amount, int) and not isinstance(amount, bool):
                res["vcpus"] = amount
            elif item == "memory" and (mb := _megabytes(amount)) is not None:
                res["memoryMb"] = max(128, int(mb))
            elif item == "storage" and (mb := _megabytes(amount)) is not None:
                res["diskGb"] = max(1, -(-int(mb) // 1024))
            else:
                self.unmapped.append(f"{key}.{item}")

    def name(self, definition: dict[str, Any], key: str, value: Any) -> None:
        if not isinstance(value, str):
            self.unmapped.append(key)


def _megabytes(value: Any) -> float | None:
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    return float(match[1]) * _UNIT_MB[(match[2] or "mb").lower()]


def _name(value: Any) -> str:
    text = value if isinstance(value, str) else "imported"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:64]
    return slug or "imported"


_Handler = Callable[[_Mapper, dict[str, Any], str, Any], None]
_HANDLERS: dict[str, _Handler] = {
    "name": _Mapper.name,
    "image": _Mapper.image,
    "forwardPorts": _Mapper.ports,
    "appPort": _Mapper.ports,
    "containerEnv": _Mapper.env,
    "remoteEnv": _Mapper.env,
    "hostRequirements": _Mapper.resources,
    "$schema": lambda *_: None,
    **dict.fromkeys(_CREATE_COMMANDS, _Mapper.commands),
}
