"""Service definitions: defaults, validation messages that name the field, directory overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.guest.services import ServiceSpec, SpecError, load, parse


def test_defaults() -> None:
    spec = ServiceSpec("code-server", {"argv": ["code-server", "--bind-addr", "0.0.0.0:13337"]})
    assert (spec.user, spec.restart, spec.autostart, spec.stop_signal) == (
        "root",
        "on-failure",
        False,
        "TERM",
    )
    assert spec.restart_delay_s == 1.0 and spec.restart_max_delay_s == 30.0


def test_shell_form() -> None:
    assert ServiceSpec("dev-web", {"shell": "npm run dev"}).argv == ["/bin/sh", "-c", "npm run dev"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("ok", {}, "exactly one of"),
        ("ok", {"argv": ["a"], "shell": "b"}, "exactly one of"),
        ("ok", {"argv": []}, "argv"),
        ("ok", {"argv": ["a"], "restart": "sometimes"}, "restart"),
        ("ok", {"argv": ["a"], "autostart": "yes"}, "autostart"),
        ("ok", {"argv": ["a"], "port": True}, "port"),
        ("ok", {"argv": ["a"], "env": {"A": 1}}, "env"),
        ("ok", {"argv": ["a"], "dirs": ["relative"]}, "dirs"),
        ("ok", {"argv": ["a"], "stop_signal": "BOOM"}, "stop_signal"),
        ("ok", {"argv": ["a"], "colour": "red"}, "unknown field"),
        ("ok", {"argv": ["a"], "name": "other"}, "name"),
        ("Bad Name", {"argv": ["a"]}, "name"),
    ],
)
def test_invalid_definitions_name_the_field(
    name: str, data: dict[str, object], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        ServiceSpec(name, data)


def test_parse_rejects_non_objects() -> None:
    with pytest.raises(SpecError, match="JSON"):
        parse("x", "{")
    with pytest.raises(SpecError, match="object"):
        parse("x", "[]")


def test_later_directories_override_and_broken_files_are_reported(tmp_path: Path) -> None:
    image, runtime = tmp_path / "image", tmp_path / "runtime"
    image.mkdir()
    runtime.mkdir()
    (image / "web.json").write_text(json.dumps({"argv": ["image-web"]}))
    (image / "vnc.json").write_text(json.dumps({"argv": ["vnc"], "autostart": True}))
    (runtime / "web.json").write_text(json.dumps({"argv": ["runtime-web"]}))
    (runtime / "bad.json").write_text(json.dumps({"argv": "not-a-list"}))
    (runtime / "README").write_text("ignored")
    specs, errors = load([str(image), str(runtime), str(tmp_path / "missing")])
    assert specs["web"].argv == ["runtime-web"] and specs["vnc"].autostart
    assert set(specs) == {"web", "vnc"}
    assert "argv" in errors["bad"] and str(runtime / "bad.json") in errors["bad"]
