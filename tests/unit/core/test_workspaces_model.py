"""Workspace definitions: parsing, field-level validation with paths, derived values."""

from __future__ import annotations

from typing import Any

import pytest

from atelier.core.workspaces import DefinitionInvalid, parse_definition, problems_of
from atelier.core.workspaces.model import WORKSPACE_ROOT


def full() -> dict[str, Any]:
    return {
        "name": "shop",
        "image": "dev-base",
        "resources": {"vcpus": 2, "memoryMb": 2048, "diskGb": 20},
        "repos": [
            {"url": "https://github.com/acme/shop.git", "branch": "main", "source": "gh"},
            "git@github.com:acme/lib.git",
        ],
        "init": [
            "npm ci",
            {"name": "build", "command": "npm run build", "cwd": "shop", "timeoutS": 900},
        ],
        "dev": [
            {
                "name": "web",
                "command": "npm run dev",
                "cwd": "shop",
                "port": 5173,
                "env": {"HOST": "0.0.0.0"},
                "autostart": True,
                "visibility": "public",
            },
            {"name": "worker", "command": "npm run worker"},
        ],
        "ports": [8000, 5173],
        "env": {"NODE_ENV": "development"},
        "secrets": {"env": ["API_KEY"], "files": [{"name": "npmrc", "path": "~/.npmrc"}]},
        "opencode": {"model": "anthropic/claude"},
        "prebuild": {"auto": True, "memory": False},
    }


def fields(data: Any) -> dict[str, str]:
    return {p.field: p.message for p in problems_of(data)}


def test_a_full_definition_parses() -> None:
    spec = parse_definition(full())
    assert spec.name == "shop" and spec.image == "dev-base"
    assert spec.resources.memory_mb == 2048
    shop, lib = spec.repos
    assert (shop.path, shop.branch, shop.source) == ("shop", "main", "gh")
    assert (lib.path, lib.branch, lib.url) == ("lib", None, "git@github.com:acme/lib.git")
    assert shop.guest_path == f"{WORKSPACE_ROOT}/shop"
    assert [c.name for c in spec.init] == ["init-1", "build"]
    assert spec.init[1].cwd == f"{WORKSPACE_ROOT}/shop" and spec.init[1].timeout_s == 900
    web = spec.dev[0]
    assert (web.port, web.autostart, web.visibility, web.env) == (
        5173,
        True,
        "public",
        {"HOST": "0.0.0.0"},
    )
    assert spec.dev[1].visibility == "members" and spec.dev[1].cwd == WORKSPACE_ROOT
    assert spec.guest_ports() == (5173, 8000)
    assert spec.env_secrets == ("API_KEY",)
    assert spec.file_secrets[0].path == "/home/dev/.npmrc" and spec.file_secrets[0].mode == 0o600
    assert spec.prebuild.auto and not spec.prebuild.memory


def test_platform_ports_are_refused_by_name() -> None:
    data = full()
    data["ports"] = [22, 13337]
    data["dev"][0]["port"] = 4096
    found = fields(data)
    assert "sshd" in found["ports[0]"] and "code-server" in found["ports[1]"]
    assert "OpenCode" in found["dev[0].port"]


def test_every_problem_is_reported_with_its_field() -> None:
    data = full()
    data["name"] = "no spaces allowed"
    data["repos"][0]["branch"] = "../evil"
    data["repos"].append({"url": "-uhttps://x/y", "path": "/abs"})
    data["init"][1]["timeoutS"] = 0
    data["dev"].append({"name": "Web!", "command": ""})
    data["dev"].append({"name": "web", "command": "x", "port": 80})
    data["env"]["PATH"] = "/tmp"
    data["secrets"]["env"].append("1BAD")
    data["resources"]["vcpus"] = 0
    data["surprise"] = True
    found = fields(data)
    assert set(found) >= {
        "name", "repos[0].branch", "repos[2].url", "repos[2].path", "init[1].timeoutS",
        "dev[2].name", "dev[2].command", "dev[3].name", "dev[3].port", "env.PATH",
        "secrets.env[1]", "resources.vcpus", "surprise",
    }  # fmt: skip
    assert "privileged" in found["dev[3].port"]
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(data)
    assert len(caught.value.problems) == len(problems_of(data))
    assert caught.value.to_dict()["problems"][0]["field"]


def test_duplicate_paths_names_and_secret_clashes() -> None:
    data = {
        "name": "w",
        "repos": ["https://h/a/app.git", {"url": "https://h/b/app.git"}],
        "dev": [{"name": "web", "command": "a"}, {"name": "web", "command": "b"}],
        "env": {"TOKEN": "x"},
        "secrets": {"env": ["TOKEN"]},
    }
    found = fields(data)
    assert "another repo" in found["repos[1].path"]
    assert "another dev command" in found["dev[1].name"]
    assert "secrets.env.TOKEN" in found


def test_the_build_digest_follows_what_prebuilds_depend_on() -> None:
    base = parse_definition(full()).build_digest()
    data = full()
    data["dev"][0]["port"] = 5174  # dev commands do not change a prebuild
    data["secrets"]["env"].append("OTHER")
    assert parse_definition(data).build_digest() == base
    data["init"].append("make")
    assert parse_definition(data).build_digest() != base


def test_a_minimal_definition_and_wrong_shapes() -> None:
    spec = parse_definition({"name": "x"})
    assert spec.repos == () and spec.image is None and spec.prebuild.auto
    assert fields([]) == {"": "the definition must be a mapping (JSON object / YAML mapping)"}
    assert "must be a list" in fields({"name": "x", "repos": {"url": "y"}})["repos"]
    assert "required" in fields({})["name"]
