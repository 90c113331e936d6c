"""Workspace definition files for the CLI: reading YAML/JSON, resolving secret values, rendering.

In a file, `secrets.env` may be a list of names (values set later with `atelier workspace
secret set`) or a mapping of name to a value source: a literal string, `{fromEnv: VAR}`
or `{fromFile: path}`; file secrets may carry `fromFile`/`fromEnv`/`value` too. Sources are
resolved here, on the caller's machine: the manager receives plain names in the definition
and the values in `secretValues` (write-only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from atelier.errors import ValidationError


def load(path: Path) -> dict[str, Any]:
    """A definition file (YAML or JSON); ValidationError when it cannot be read."""
    try:
        text = path.read_text() if str(path) != "-" else _stdin()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", field="file") from exc
    return parse(text, str(path))


def parse(text: str, where: str = "definition") -> dict[str, Any]:
    """YAML (a superset of JSON) into a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"{where} is not valid YAML/JSON: {exc}", field="file") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must hold a mapping", field="file")
    return data


def _stdin() -> str:
    import sys

    return sys.stdin.read()


def _value(source: Any, where: str, base: Path) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, dict) and len(source) == 1:
        kind, ref = next(iter(source.items()))
        if kind == "fromEnv" and isinstance(ref, str):
            value = os.environ.get(ref)  # noqa: TID251 - the file names the variable holding a secret
            if value is None:
                raise ValidationError(
                    f"{where}: environment variable {ref} is not set", field=where
                )
            return value
        if kind == "fromFile" and isinstance(ref, str):
            try:
                return (base / Path(ref).expanduser()).read_text()
            except OSError as exc:
                raise ValidationError(
                    f"{where}: cannot read {ref}: {exc.strerror}", field=where
                ) from exc
        if kind == "value" and isinstance(ref, str):
            return ref
    raise ValidationError(
        f"{where}: give a string, {{fromEnv: VAR}}, {{fromFile: path}} or {{value: text}}",
        field=where,
    )


def split_secrets(data: dict[str, Any], base: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The definition with secret names only, and the resolved secret values."""
    definition = dict(data)
    values: dict[str, str] = {}
    secrets = definition.get("secrets")
    if not isinstance(secrets, dict):
        return definition, values
    secrets = dict(secrets)
    env = secrets.get("env")
    if isinstance(env, dict):
        for name, source in env.items():
            if source is not None:
                values[str(name)] = _value(source, f"secrets.env.{name}", base)
        secrets["env"] = list(env)
    files = secrets.get("files")
    if isinstance(files, list):
        plain = []
        for i, item in enumerate(files):
            if isinstance(item, dict):
                entry = dict(item)
                for key in ("fromEnv", "fromFile", "value"):
                    if key in entry:
                        values[str(entry.get("name"))] = _value({key: entry.pop(key)},
                                                                 f"secrets.files[{i}]", base)  # fmt: skip
                plain.append(entry)
            else:
                plain.append(item)
        secrets["files"] = plain
    definition["secrets"] = secrets
    return definition, values


def render(definition: dict[str, Any]) -> str:
    """A definition as YAML, keys in the order they were written."""
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100)


def as_json(definition: dict[str, Any]) -> str:
    """A definition as JSON."""
    return json.dumps(definition, indent=2)
