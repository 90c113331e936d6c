"""The guest configuration: URLs, the files it writes, and its output."""

from __future__ import annotations

import json

from atelier.runtime.registry.guest import BEGIN, END, GuestCaches, guest_setup, parse_result

CACHES = GuestCaches("10.0.2.100", 4873, 4874)


def test_urls_and_environment() -> None:
    assert CACHES.npm_url == "http://10.0.2.100:4873/"
    assert CACHES.pypi_url == "http://10.0.2.100:4874/index/"
    env = CACHES.environment()
    assert env["NPM_CONFIG_REGISTRY"] == env["BUN_CONFIG_REGISTRY"] == CACHES.npm_url
    assert env["PIP_INDEX_URL"] == env["UV_DEFAULT_INDEX"] == CACHES.pypi_url


def test_argv_runs_stdlib_python_with_every_tool_configured() -> None:
    argv = guest_setup(CACHES)
    assert argv[:3] == ["python3", "-I", "-c"]
    compile(argv[3], "<guest>", "exec")  # the script parses
    files = json.loads(argv[4])
    assert files["npmrc"] == "registry=http://10.0.2.100:4873/\n"
    assert files["yarnrc"] == 'registry "http://10.0.2.100:4873/"\n'
    assert files["bunfig"] == '[install]\nregistry = "http://10.0.2.100:4873/"\n'
    assert files["uv"] == 'index-url = "http://10.0.2.100:4874/index/"\n'
    assert files["pip"] == {"index-url": CACHES.pypi_url, "trusted-host": "10.0.2.100"}
    assert files["profile"].startswith(BEGIN) and files["profile"].endswith(END + "\n")


def test_parse_result() -> None:
    out = 'noise\n{"written": ["/etc/pip.conf"], "warnings": ["w"]}\n'
    assert parse_result(out) == (["/etc/pip.conf"], ["w"])
    written, warnings = parse_result("garbage")
    assert written == [] and "unexpected output" in warnings[0]
