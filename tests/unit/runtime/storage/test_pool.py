"""Loop-mounted pool: the commands, the boot unit, mount and loop-device discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.storage.pool import (
    PoolSpec,
    blkid_argv,
    detach_argv,
    mkfs_argv,
    mount_argv,
    mount_unit,
    umount_argv,
    unit_name,
)
from atelier.runtime.storage.probe import (
    loop_backing_file,
    loops_backed_by,
    mount_source,
    parse_mountinfo,
)

SPEC = PoolSpec(Path("/var/lib/atelier/pool.img"), Path("/var/lib/atelier/pool"), 1 << 30, "btrfs")


def test_mkfs_argv() -> None:
    image = Path("/x/pool.img")
    assert mkfs_argv("btrfs", image) == [
        "mkfs.btrfs",
        "--quiet",
        "--label",
        "atl-pool",
        "/x/pool.img",
    ]
    assert mkfs_argv("xfs", image) == [
        "mkfs.xfs", "-q", "-m", "reflink=1", "-L", "atl-pool", "/x/pool.img",
    ]  # fmt: skip


def test_mount_commands() -> None:
    assert mount_argv(SPEC) == [
        "mount", "-t", "btrfs", "-o", "loop,noatime",
        "/var/lib/atelier/pool.img", "/var/lib/atelier/pool",
    ]  # fmt: skip
    assert umount_argv(SPEC.mount_dir) == ["umount", "/var/lib/atelier/pool"]
    assert detach_argv("/dev/loop3") == ["losetup", "--detach", "/dev/loop3"]
    assert blkid_argv(SPEC.image) == [
        "blkid", "--probe", "--output", "value", "--match-tag", "TYPE", "/var/lib/atelier/pool.img",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/lib/atelier/pool", "var-lib-atelier-pool.mount"),
        ("/tmp/a b/.x-y/ü", "tmp-a\\x20b-.x\\x2dy-\\xc3\\xbc.mount"),
        ("/srv/.hidden", "srv-.hidden.mount"),
        ("/.dot", "\\x2edot.mount"),
        ("/", "-.mount"),
        ("//srv//pool/", "srv-pool.mount"),
    ],
)
def test_unit_name_matches_systemd_escape(path: str, expected: str) -> None:
    assert unit_name(Path(path)) == expected


def test_mount_unit_text() -> None:
    text = mount_unit(SPEC)
    assert "[Mount]\nWhat=/var/lib/atelier/pool.img\nWhere=/var/lib/atelier/pool\n" in text
    assert "Type=btrfs\nOptions=loop,noatime\n" in text
    assert "RequiresMountsFor=/var/lib/atelier\n" in text
    assert text.endswith("[Install]\nWantedBy=local-fs.target\n")
    odd = PoolSpec(Path("/p/100%.img"), Path("/p/m"), 1, "xfs")
    assert "What=/p/100%%.img" in mount_unit(odd)


MOUNTINFO = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "40 22 7:3 / /srv/pool\\040one rw,noatime shared:20 - btrfs /dev/loop3 rw,space_cache=v2\n"
    "41 22 0:40 / /srv/other rw - tmpfs tmpfs rw\n"
    "42 41 7:4 / /srv/other rw - xfs /dev/loop4 rw\n"
)


def test_parse_mountinfo_unescapes() -> None:
    entries = parse_mountinfo(MOUNTINFO)
    assert entries[1].mount_point == "/srv/pool one"
    assert (entries[1].fstype, entries[1].source) == ("btrfs", "/dev/loop3")


def fake_sys(tmp_path: Path, backing: dict[str, str]) -> Path:
    sys_block = tmp_path / "sys" / "block"
    for device, file in backing.items():
        loop = sys_block / device / "loop"
        loop.mkdir(parents=True)
        (loop / "backing_file").write_text(file + "\n")
    (sys_block / "loop9").mkdir(parents=True)  # detached: no loop/ directory
    return sys_block


def test_loop_discovery(tmp_path: Path) -> None:
    image = tmp_path / "pool.img"
    image.touch()
    sys_block = fake_sys(tmp_path, {"loop3": str(image), "loop4": f"{image} (deleted)"})
    assert loop_backing_file("/dev/loop3", sys_block) == str(image)
    assert loop_backing_file("/dev/vda", sys_block) is None
    assert loop_backing_file("/dev/loop9", sys_block) is None
    assert loops_backed_by(image, sys_block) == ["/dev/loop3", "/dev/loop4"]


def test_mount_source_takes_the_top_mount(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    sys_block = fake_sys(tmp_path, {"loop4": "/images/pool.img"})
    assert mount_source(Path("/srv/other"), info, sys_block) == "/images/pool.img"
    assert mount_source(Path("/srv/pool one"), info, sys_block) == "/dev/loop3"
    assert mount_source(Path("/srv/nothing"), info, sys_block) is None
