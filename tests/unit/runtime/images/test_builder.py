"""The image builder's pure parts: commands, sizing, and the up-to-date check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.errors import Forbidden
from atelier.runtime.images import builder, recipes, trees
from atelier.runtime.images.config import ImagesConfig
from atelier.runtime.images.manifest import IMAGE_FILE, write_manifest
from atelier.runtime.images.recipe import recipe_hash
from tests.unit.runtime.images.factories import manifest


def test_mmdebstrap_argv_uses_the_configured_mirrors(config: AtelierConfig) -> None:
    images = ImagesConfig(
        debian_mirror="http://mirror.example/debian/",
        debian_security_mirror="http://mirror.example/debian-security",
    )
    custom = AtelierConfig(paths=config.paths, images=images)
    recipe = recipes.load_recipe("minimal")
    argv = builder.mmdebstrap_argv(custom, recipe, Path("/t/rootfs"))
    assert argv[:3] == ["mmdebstrap", "--mode=root", "--variant=minbase"]
    include = next(str(a) for a in argv if str(a).startswith("--include="))
    assert "openssh-server" in include and "python3" in include
    assert "--dpkgopt=path-exclude=/usr/share/man/*" in argv
    assert argv[-3:] == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
    ]
    assert argv[-5:-3] == ["bookworm", Path("/t/rootfs")]


def test_mkfs_argv_fills_the_image_from_the_tree() -> None:
    argv = builder.mkfs_argv(Path("/t/rootfs"), Path("/i/rootfs.ext4"), 896, 114688)
    assert argv[0] == "mkfs.ext4"
    assert argv[argv.index("-L") + 1] == "rootfs"
    assert argv[argv.index("-d") + 1] == Path("/t/rootfs")
    assert argv[-2:] == [Path("/i/rootfs.ext4"), "896M"]
    assert argv[argv.index("-N") + 1] == "114688"


@pytest.mark.parametrize(
    ("apparent", "allocated", "headroom", "expected"),
    [
        (230 << 20, 250 << 20, 512, 896),
        (0, 0, 0, 64),
        (10 << 30, 9 << 30, 512, 11840),
    ],
)
def test_image_size(apparent: int, allocated: int, headroom: int, expected: int) -> None:
    size = builder.image_size_mib(trees.Usage(apparent, allocated, 1000), headroom)
    assert size == expected and size % 64 == 0


def test_inode_count_leaves_room() -> None:
    assert builder.inode_count(trees.Usage(0, 0, 10_000), 896) == 896 * 128
    assert builder.inode_count(trees.Usage(0, 0, 1_000_000), 896) == 1_300_000


async def test_unchanged_recipe_is_not_rebuilt(config: AtelierConfig) -> None:
    digest = recipe_hash(recipes.recipe_chain("minimal"))
    directory = config.paths.images / "minimal"
    directory.mkdir(parents=True)
    (directory / IMAGE_FILE).write_bytes(b"\0")
    write_manifest(directory, manifest(recipe_hash=digest))
    result = await builder.build_image(config, "minimal")
    assert result.cached
    assert result.image.path == directory / IMAGE_FILE


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal for non-root users")
async def test_building_needs_root(config: AtelierConfig) -> None:
    with pytest.raises(Forbidden, match="root"):
        await builder.build_image(config, "minimal")


def test_mounts_under_reads_mountinfo() -> None:
    info = (
        "22 1 0:21 / /proc rw - proc proc rw\n"
        "90 1 0:50 / /cache/stages/.tmp-x/rootfs/proc rw - proc proc rw\n"
        "91 1 0:51 / /cache/stages/.tmp-x/rootfs/dev\\040x rw - devtmpfs udev rw\n"
        "92 1 0:52 / /cache/stages/.tmp-xy rw - tmpfs t rw\n"
    )
    found = trees.mounts_under(Path("/cache/stages/.tmp-x"), info)
    assert found == ["/cache/stages/.tmp-x/rootfs/dev x", "/cache/stages/.tmp-x/rootfs/proc"]


def test_tree_usage(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 5000)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to("../a")
    usage = trees.tree_usage(tmp_path)
    assert usage.files == 3
    assert usage.apparent >= 5000
