"""devcontainer.json import: JSONC, mapped fields, and every unmapped field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.core.workspaces import parse_definition
from atelier.core.workspaces.devcontainer import import_devcontainer, strip_jsonc
from atelier.errors import ValidationError

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "devcontainer" / "devcontainer.json"


def test_the_fixture_imports_with_the_unmapped_fields_named() -> None:
    result = import_devcontainer(FIXTURE.read_text(), known_images=("minimal", "dev-base"))
    definition = result.definition
    assert definition["name"] == "Shop-Node-Postgres"
    assert definition["image"] == "dev-base"
    assert [c["command"] for c in definition["init"]] == ["npm ci", "npm run setup", "npm install"]
    assert definition["ports"] == [3000, 9229]
    assert definition["env"] == {"NODE_ENV": "development"}
    assert definition["resources"] == {"vcpus": 4, "memoryMb": 8192, "diskGb": 32}
    assert sorted(result.unmapped) == sorted([
        "updateContentCommand.bad", "forwardPorts[1]", "containerEnv.HOME_DIR",
        "hostRequirements.gpu", "features", "customizations", "remoteUser", "mounts",
        "postStartCommand", "portsAttributes",
    ])  # fmt: skip
    assert any("typescript-node" in note for note in result.notes)
    parse_definition(definition)  # the mapped part is a valid definition


def test_a_known_image_name_maps_and_strings_survive_comment_stripping() -> None:
    text = '{"image": "example/minimal:latest", "containerEnv": {"URL": "http://x//y /* no */"},}'
    result = import_devcontainer(text, name="mine", known_images=("minimal",))
    assert result.definition["image"] == "minimal" and result.definition["name"] == "mine"
    assert result.definition["env"] == {"URL": "http://x//y /* no */"}
    assert result.unmapped == []
    assert strip_jsonc('{"a": "\\"//", // c\n "b": [1,],}') == '{"a": "\\"//", \n "b": [1]}'


def test_broken_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not valid JSON"):
        import_devcontainer("{nope")
    with pytest.raises(ValidationError, match="object"):
        import_devcontainer("[1]")
