"""Files: binary-safe round trips, atomic writes, owners, limits and clear errors."""

from __future__ import annotations

import hashlib
import os
import pwd
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.runtime.agent import AgentClient
from atelier.runtime.agent.errors import AgentConflict, AgentNotFound, AgentTooLarge


async def test_8_mib_round_trip_keeps_the_sha256(client: AgentClient, tmp_path: Path) -> None:
    data = os.urandom(8 << 20)
    target = tmp_path / "blob.bin"
    assert await client.write_file(str(target), data) == len(data)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    back = await client.read_file(str(target))
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_write_creates_parents_with_the_owner_and_mode(
    client: AgentClient, tmp_path: Path
) -> None:
    nobody = pwd.getpwnam("nobody")
    target = tmp_path / "a" / "b" / "secret"
    await client.write_file(str(target), b"s3", mode=0o600, owner="nobody")
    st = os.stat(target)
    assert (st.st_uid, st.st_mode & 0o777, target.read_bytes()) == (nobody.pw_uid, 0o600, b"s3")
    for parent in (tmp_path / "a", tmp_path / "a" / "b"):
        assert os.stat(parent).st_uid == nobody.pw_uid
    assert os.stat(tmp_path).st_uid == 0  # existing directories are left alone


async def test_overwrite_keeps_mode_and_leaves_no_temp_files(
    client: AgentClient, tmp_path: Path
) -> None:
    (tmp_path / "own").mkdir()
    target = tmp_path / "own" / "script.sh"
    target.write_text("old")
    target.chmod(0o751)
    await client.write_file(str(target), b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o751
    await client.write_file(str(target), b"+more", append=True)
    assert target.read_bytes() == b"new+more"
    assert os.listdir(tmp_path / "own") == ["script.sh"]


async def test_streamed_upload(client: AgentClient, tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(64):
            yield bytes([i]) * 10_000

    target = tmp_path / "streamed"
    assert await client.write_file(str(target), chunks()) == 640_000
    assert target.read_bytes() == b"".join(bytes([i]) * 10_000 for i in range(64))


async def test_ranges_and_limits(client: AgentClient, tmp_path: Path) -> None:
    target = tmp_path / "digits"
    target.write_bytes(b"0123456789")
    assert await client.read_file(str(target), offset=3, length=4) == b"3456"
    with pytest.raises(AgentTooLarge) as info:
        await client.read_file(str(target), max_size=5)
    assert info.value.field == "max_size"


async def test_errors_name_the_path(client: AgentClient, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(AgentNotFound) as info:
        await client.read_file(str(missing))
    assert str(missing) in info.value.message
    with pytest.raises(AgentConflict):
        await client.read_file(str(tmp_path))
    with pytest.raises(AgentConflict):
        await client.write_file(str(tmp_path), b"x")
    with pytest.raises(AgentNotFound):
        await client.stat(str(missing))


async def test_list_stat_mkdir_remove(client: AgentClient, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    (tmp_path / "link").symlink_to("f")
    created = await client.mkdir(str(tmp_path / "d" / "e"), mode=0o700)
    assert created == [str(tmp_path / "d"), str(tmp_path / "d" / "e")]
    entries = {e.name: e.stat for e in await client.list_dir(str(tmp_path))}
    assert entries["f"].type == "file" and entries["f"].size == 5
    assert entries["link"].type == "symlink" and entries["link"].target == "f"
    assert entries["d"].type == "dir"
    assert (await client.stat(str(tmp_path / "d" / "e"))).mode == 0o700
    assert (await client.stat(str(tmp_path / "link"))).type == "file"
    assert await client.remove(str(tmp_path / "d"), recursive=True)
    assert not await client.remove(str(tmp_path / "d"), missing_ok=True)
    assert not (tmp_path / "d").exists()
