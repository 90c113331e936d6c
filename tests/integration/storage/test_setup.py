"""`atelier storage setup`: a loop-mounted pool in a temp location, idempotent, remountable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from atelier.cli import output
from atelier.cli.app import root
from atelier.runtime.storage import PoolSpec, teardown_pool
from atelier.runtime.storage.config import GIB, PoolFs
from atelier.runtime.storage.pool import is_mounted, mount_unit
from atelier.runtime.storage.probe import loops_backed_by
from tests.integration.storage.conftest import MKFS, require

pytestmark = pytest.mark.root


@pytest.fixture
def pool_config(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, PoolSpec]]:
    """A config file naming a pool image and directory in tmp_path; the pool is torn down
    afterwards, also when the test fails."""
    fs: PoolFs = request.param
    require(MKFS[fs], "mount", "umount", "losetup", "blkid")
    spec = PoolSpec(tmp_path / "pool.img", tmp_path / "pool", GIB, fs)
    storage = {"pool_image": str(spec.image), "pool_dir": str(spec.mount_dir),
               "pool_fs": fs, "pool_image_size_gb": 1, "reserve_gb": 0}  # fmt: skip
    config = tmp_path / "sandbox.config.json"
    config.write_text(json.dumps({"paths": {"data_dir": str(tmp_path)}, "storage": storage}))
    try:
        yield config, spec
    finally:
        output.state.json = False
        asyncio.run(teardown_pool(spec))
        assert not loops_backed_by(spec.image)


def cli(config: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        root, list(args), env={"ATELIER_CONFIG": str(config)}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("pool_config", ["btrfs", "xfs"], indirect=True)
def test_setup_is_idempotent_and_remounts(
    pool_config: tuple[Path, PoolSpec], tmp_path: Path
) -> None:
    config, spec = pool_config
    units = tmp_path / "units"
    setup = ("storage", "setup", "--json", "--unit-dir", str(units))

    first = cli(config, *setup)
    assert first["changed"] is True and first["reflink"] is True, first
    actions = " | ".join(first["actions"])
    assert "created" in actions and f"formatted {spec.image} as {spec.fs}" in actions
    assert "mounted" in actions and "wrote" in actions
    assert is_mounted(spec)
    unit = Path(first["unit"])
    assert unit.parent == units
    assert unit.read_text() == mount_unit(spec)
    assert (units / "local-fs.target.wants" / unit.name).resolve() == unit

    second = cli(config, *setup)
    assert second["changed"] is False and second["actions"] == []

    status = cli(config, "storage", "status", "--json")
    assert status["driver"] == "reflink"
    assert status["pool"]["fs"] == spec.fs

    asyncio.run(teardown_pool(spec))
    assert not is_mounted(spec)
    third = cli(config, *setup)
    assert third["actions"] == [f"mounted {spec.image} on {spec.mount_dir}"]
    assert is_mounted(spec)
