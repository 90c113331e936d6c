"""The error tree: unique codes, statuses and the envelope."""

from __future__ import annotations

import importlib
import pkgutil

import atelier
from atelier.errors import AtelierError, CommandError, ToolMissing, ValidationError


def _all_subclasses(cls: type[AtelierError]) -> set[type[AtelierError]]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


def test_every_error_class_has_a_unique_code_and_a_status() -> None:
    for module in pkgutil.walk_packages(atelier.__path__, "atelier."):
        if module.name.startswith("atelier.guest") or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    classes = _all_subclasses(AtelierError)
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for cls in classes:
        assert 400 <= cls.status <= 599, cls


def test_envelope_has_field_and_hint() -> None:
    error = ValidationError("bad port", field="port", hint="use 1024-65535")
    assert error.to_dict() == {
        "error": "validation_error",
        "message": "bad port",
        "field": "port",
        "hint": "use 1024-65535",
    }


def test_command_error_explains_signals_and_127() -> None:
    assert "SIGKILL" in CommandError(["x"], -9, "").message
    assert "not found" in CommandError(["x"], 127, "").message
    assert "boom" in CommandError(["x"], 1, "line\nboom").message


def test_tool_missing_names_package() -> None:
    error = ToolMissing("mkfs.btrfs", "btrfs-progs")
    assert error.hint is not None and "apt-get install btrfs-progs" in error.hint
