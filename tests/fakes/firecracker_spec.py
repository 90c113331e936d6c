"""Firecracker's swagger description turned into request validators for the fake.

Swagger 2.0 paths become regular expressions; each body schema becomes a JSON Schema
(draft 4, which Swagger 2.0 is based on) over the YAML's `definitions`, with
`additionalProperties: false` added to every object that does not say otherwise, the way
Firecracker itself rejects unknown fields.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).resolve().parent.parent / "data" / "firecracker-api.yaml"
_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")


class RequestRejected(Exception):
    """The request does not match the API description; `str()` is the fault message."""


@dataclass(frozen=True)
class Operation:
    """One method on one path template of the API."""

    method: str
    template: str
    pattern: re.Pattern[str]
    body_schema: dict[str, Any] | None
    body_required: bool


def strict(schema: Any) -> Any:
    """A copy of a Swagger schema where every object forbids unknown properties."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    is_object = result.get("type") == "object" or "properties" in result
    if is_object and "additionalProperties" not in result and "$ref" not in result:
        result["additionalProperties"] = False
    return result


class SwaggerApi:
    """The operations of firecracker-api.yaml, able to validate a request."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        document = yaml.safe_load(path.read_text())
        self.version: str = document["info"]["version"]
        self.definitions: dict[str, Any] = strict(copy.deepcopy(document["definitions"]))
        self.operations: list[Operation] = []
        for template, methods in document["paths"].items():
            regex = re.sub(r"\\\{[a-z_]+\\\}", "(?P<id>[^/]*)", re.escape(template))
            for method, spec in methods.items():
                body = [p for p in spec.get("parameters", []) if p.get("in") == "body"]
                schema = body[0]["schema"] if body else None
                self.operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        pattern=re.compile(f"^{regex}$"),
                        body_schema=strict(schema) if schema is not None else None,
                        body_required=bool(body and body[0].get("required", False)),
                    )
                )

    def schema_for(self, operation: Operation) -> dict[str, Any]:
        """The full JSON Schema of an operation's body (with the definitions it refers to)."""
        assert operation.body_schema is not None
        return {**operation.body_schema, "definitions": self.definitions}

    def match(self, method: str, path: str) -> tuple[Operation, str | None]:
        """The operation for `method path` and its path parameter; RequestRejected if none."""
        for operation in self.operations:
            found = operation.pattern.match(path)
            if found and operation.method == method:
                return operation, found.groupdict().get("id")
        raise RequestRejected(f"Invalid request method and/or path: {method} {path}.")

    def validate(self, method: str, path: str, body: Any) -> tuple[Operation, str | None]:
        """Check path, method, path id and body; raises RequestRejected with the reason."""
        operation, ident = self.match(method, path)
        if ident is not None and not _ID_RE.match(ident):
            raise RequestRejected(
                "API Resource IDs can only contain alphanumeric characters and underscores."
            )
        if operation.body_schema is None:
            if body is not None:
                raise RequestRejected(f"{method} {path} takes no body.")
            return operation, ident
        if body is None:
            if operation.body_required:
                raise RequestRejected("Empty request body.")
            return operation, ident
        validator = jsonschema.Draft4Validator(self.schema_for(operation))
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(part) for part in first.absolute_path) or "body"
            raise RequestRejected(
                "An error occurred when deserializing the json body of a request:"
                f" {where}: {first.message}"
            )
        return operation, ident
