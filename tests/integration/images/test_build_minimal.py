"""Build the `minimal` image for real (as root) into a temporary image directory.

The build cache is the host's (`/var/cache/atelier`), which `.ci/run`'s artifact phase
fills before the tests: the rootfs stage is reused, so the test sends nothing to the
Debian mirror (tests talk only to loopback); the image itself (mkfs, manifest) is made
anew. The checks read the ext4 image with debugfs, without mounting it. A failing child
recipe must leave nothing behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig
from atelier.errors import CommandError
from atelier.runtime.host import proc
from atelier.runtime.images import builder, recipes, trees
from atelier.runtime.images.base import NullEvents
from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.recipe import Recipe, Step
from atelier.runtime.images.steps import Run, WriteFile

HOST_CACHE = Path("/var/cache/atelier")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mmdebstrap --mode=root, chroot)"),
    pytest.mark.skipif(proc.which("mmdebstrap") is None, reason="needs mmdebstrap"),
]


@pytest.fixture(scope="module")
async def config(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AtelierConfig]:
    """A scratch image dir (deleted afterwards) over the host's build cache."""
    root = tmp_path_factory.mktemp("images")
    try:
        yield AtelierConfig(paths=PathsConfig(data_dir=root / "data", cache_dir=HOST_CACHE))
    finally:
        await trees.remove_tree(root)


@pytest.fixture(scope="module")
async def minimal(config: AtelierConfig) -> BuiltImage:
    result = await builder.build_image(config, "minimal", events=NullEvents())
    assert not result.cached
    return result.image


async def _debugfs(image: Path, request: str) -> str:
    done = await proc.run(["debugfs", "-R", request, image], timeout=60)
    return done.text


@pytest.mark.timeout(1800)
async def test_manifest(minimal: BuiltImage) -> None:
    m = minimal.manifest
    assert m.name == "minimal" and m.parent is None
    assert m.recipe_hash and len(m.recipe_hash) == 64
    assert m.size_apparent == minimal.path.stat().st_size
    assert 0 < m.size_allocated < m.size_apparent
    assert m.recommended_memory_mb == 512
    assert m.packages["python3"].startswith("3.11")
    assert "openssh-server" in m.packages and "git" in m.packages and "sudo" in m.packages
    assert {"extent", "64bit"} <= set(m.filesystem["features"])
    assert m.kernel["flavours"] == ["custom", "cloud"]


@pytest.mark.timeout(1800)
async def test_image_contents(minimal: BuiltImage) -> None:
    home = await _debugfs(minimal.path, "stat /home/dev")
    assert re.search(r"User:\s+1000\s+Group:\s+1000", home)
    assert "Type: directory" in home
    python = await _debugfs(minimal.path, "stat /usr/bin/python3")
    assert "Type: symlink" in python or "Type: regular" in python
    sudoers = await _debugfs(minimal.path, "cat /etc/sudoers.d/dev")
    assert "dev ALL=(ALL:ALL) NOPASSWD:ALL" in sudoers
    sshd = await _debugfs(minimal.path, "cat /etc/ssh/sshd_config.d/atelier.conf")
    assert "PasswordAuthentication no" in sshd
    keys = await _debugfs(minimal.path, "ls /etc/ssh")
    assert "ssh_host_" not in keys
    services = await _debugfs(minimal.path, "stat /etc/atelier/services.d")
    assert "Type: directory" in services
    passwd = await _debugfs(minimal.path, "cat /etc/passwd")
    assert "dev:x:1000:1000::/home/dev:/bin/bash" in passwd


@pytest.mark.timeout(1800)
async def test_unchanged_recipe_is_cached(config: AtelierConfig, minimal: BuiltImage) -> None:
    again = await builder.build_image(config, "minimal")
    assert again.cached and again.image.path == minimal.path


@pytest.mark.timeout(1800)
async def test_failed_child_leaves_nothing_behind(
    config: AtelierConfig, minimal: BuiltImage
) -> None:
    broken = Recipe(
        name="broken-child",
        description="fails in its second step",
        parent="minimal",
        steps=(
            Step("write a file", WriteFile("/etc/child-marker", "x\n")),
            Step("fail", Run(("false",))),
        ),
    )
    with pytest.raises(CommandError):
        await builder.build_chain(config, [recipes.load_recipe("minimal"), broken])
    assert not (config.paths.images / "broken-child").exists()
    leftovers = [p.name for p in config.paths.images.iterdir() if p.name.startswith(".")]
    stages = config.paths.cache_dir / "images" / "stages"
    leftovers += [p.name for p in stages.iterdir() if p.name.startswith("broken-child")]
    assert leftovers == []
    assert (minimal.directory / "rootfs.ext4").is_file()


@pytest.mark.timeout(1800)
async def test_child_starts_from_the_parent_tree(
    config: AtelierConfig, minimal: BuiltImage
) -> None:
    child = Recipe(
        name="child-test",
        description="adds one file",
        parent="minimal",
        steps=(Step("marker", WriteFile("/etc/child-marker", "child\n")),),
        recommended_memory_mb=768,
    )
    result = await builder.build_chain(config, [recipes.load_recipe("minimal"), child])
    assert result.image.manifest.parent == "minimal"
    assert result.image.manifest.recommended_memory_mb == 768
    marker = await _debugfs(result.image.path, "cat /etc/child-marker")
    assert "child" in marker
    home = await _debugfs(result.image.path, "stat /home/dev")
    assert re.search(r"User:\s+1000", home)
