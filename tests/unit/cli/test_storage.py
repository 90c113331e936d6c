"""`atelier storage status|list|setup` with the copy driver in a temp pool (no root)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atelier.cli import output
from atelier.cli.app import root
from atelier.runtime.host import names
from atelier.runtime.storage.config import MIB, StorageConfig
from atelier.runtime.storage.copy import CopyStorage


@pytest.fixture(autouse=True)
def reset_output() -> Iterator[None]:
    yield
    output.state.json = False


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox.config.json"
    storage = {"driver": "copy", "pool_dir": str(tmp_path / "pool"), "reserve_gb": 0}
    path.write_text(json.dumps({"paths": {"data_dir": str(tmp_path)}, "storage": storage}))
    return path


def invoke(config_file: Path, *args: str) -> str:
    env = {"ATELIER_CONFIG": str(config_file)}
    result = CliRunner().invoke(root, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


async def make_volumes(pool: CopyStorage, image: Path, base: str) -> None:
    await pool.import_base(image, base)
    await pool.clone(base, names.sandbox_volume("aaaaaaaa"))


def test_status_and_list_json(config_file: Path, tmp_path: Path) -> None:
    image = tmp_path / "src.img"
    image.write_bytes(os.urandom(MIB))
    base = names.base_volume("minimal", "0123abcd")
    pool = CopyStorage(tmp_path / "pool", StorageConfig(reserve_gb=0))
    asyncio.run(make_volumes(pool, image, base))  # the CLI runs its own event loop

    status = json.loads(invoke(config_file, "storage", "status", "--json"))
    assert status["driver"] == "copy" and status["reason"].startswith("configured")
    assert status["pool"]["volumes"] == 2 and status["pool"]["level"] in ("ok", "low", "full")
    listed = json.loads(invoke(config_file, "storage", "list", "--json"))
    assert [v["name"] for v in listed] == [base, "atl-sbx-aaaaaaaa"]
    assert listed[1]["origin"] == base and listed[1]["usage"]["allocated"] >= MIB


def test_status_table(config_file: Path) -> None:
    text = invoke(config_file, "storage", "status")
    assert "driver" in text and "copy" in text and "reserve" in text


def test_setup_with_copy_driver_only_makes_the_directory(config_file: Path, tmp_path: Path) -> None:
    data = json.loads(invoke(config_file, "storage", "setup", "--json", "--no-unit"))
    assert data["changed"] is False and data["image"] is None
    assert "storage.driver is copy" in data["notes"]
    assert (tmp_path / "pool").is_dir()
