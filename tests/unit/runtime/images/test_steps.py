"""Recipe step actions on a scratch tree (no chroot, no root needed except where marked)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atelier.runtime.images.base import NullEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.steps import (
    CopyTree,
    MakeDirs,
    RemovePaths,
    StepContext,
    WriteFile,
    chroot_argv,
)

UID, GID = os.getuid(), os.getgid()


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    return StepContext(root, tmp_path / "build.log", NullEvents())


def test_path_follows_relative_links_inside_the_tree(ctx: StepContext) -> None:
    assert ctx.path("/bin/tool") == ctx.root / "bin" / "tool"


@pytest.mark.parametrize("inside", ["etc/passwd", "/etc/../../host", "/../x"])
def test_path_must_be_absolute_without_dotdot(ctx: StepContext, inside: str) -> None:
    with pytest.raises(ImageBuildError, match="absolute"):
        ctx.path(inside)


def test_path_refuses_absolute_links_out_of_the_tree(ctx: StepContext, tmp_path: Path) -> None:
    outside = tmp_path / "host-etc"
    outside.mkdir()
    (ctx.root / "etc" / "escape").symlink_to(outside)
    with pytest.raises(ImageBuildError, match="outside the image tree"):
        ctx.path("/etc/escape/file")


async def test_write_file_and_dirs(ctx: StepContext) -> None:
    await WriteFile("/etc/atelier/x.conf", "hello\n", 0o640, UID, GID).apply(ctx)
    target = ctx.root / "etc" / "atelier" / "x.conf"
    assert target.read_text() == "hello\n"
    assert target.stat().st_mode & 0o777 == 0o640
    await MakeDirs(("/etc/atelier/services.d", "/home/dev/.ssh"), 0o700, UID, GID).apply(ctx)
    assert (ctx.root / "home" / "dev" / ".ssh").stat().st_mode & 0o777 == 0o700


async def test_write_file_replaces_a_symlink_instead_of_following_it(
    ctx: StepContext, tmp_path: Path
) -> None:
    (ctx.root / "etc" / "resolv.conf").symlink_to("../run/resolv.conf")
    await WriteFile("/etc/resolv.conf", "# placeholder\n", uid=UID, gid=GID).apply(ctx)
    assert not (ctx.root / "etc" / "resolv.conf").is_symlink()
    assert not (ctx.root / "run").exists()


async def test_remove_paths(ctx: StepContext) -> None:
    keys = ctx.root / "etc" / "ssh"
    keys.mkdir()
    for name in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub", "sshd_config"):
        (keys / name).write_text(name)
    (ctx.root / "tmp" / "junk").mkdir(parents=True)
    await RemovePaths(("/etc/ssh/ssh_host_*", "/tmp/*", "/var/nothing/*")).apply(ctx)
    assert sorted(p.name for p in keys.iterdir()) == ["sshd_config"]
    assert list((ctx.root / "tmp").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (copies files as root:root)")
async def test_copy_tree(ctx: StepContext, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    (overlay / "etc" / "profile.d").mkdir(parents=True)
    script = overlay / "etc" / "profile.d" / "x.sh"
    script.write_text("export X=1\n")
    script.chmod(0o755)
    (overlay / "etc" / "link").symlink_to("profile.d/x.sh")
    await CopyTree(overlay).apply(ctx)
    copied = ctx.root / "etc" / "profile.d" / "x.sh"
    assert copied.read_text() == "export X=1\n" and copied.stat().st_mode & 0o777 == 0o755
    assert (ctx.root / "etc" / "link").readlink() == Path("profile.d/x.sh")


def test_chroot_argv(tmp_path: Path) -> None:
    offline = chroot_argv(tmp_path, ["useradd", "dev"], network=False)
    assert offline == ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={tmp_path}/proc",
                       "--net", "chroot", tmp_path, "useradd", "dev"]  # fmt: skip
    online = chroot_argv(tmp_path, ["apt-get", "update"], network=True)
    assert "--net" not in online
