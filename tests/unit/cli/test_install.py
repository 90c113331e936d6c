"""`atelier install firecracker` with a fake release (no network, no root)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atelier.cli import output
from atelier.cli.app import root
from atelier.errors import ValidationError
from tests.fakes.firecracker_server import write_fake_release


@pytest.fixture(autouse=True)
def reset_output() -> Iterator[None]:
    yield
    output.state.json = False


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox.config.json"
    vmm = {
        "firecracker_binary": str(tmp_path / "bin" / "firecracker"),
        "jailer_binary": str(tmp_path / "bin" / "jailer"),
    }
    path.write_text(json.dumps({"paths": {"data_dir": str(tmp_path)}, "vmm": vmm}))
    return path


def test_install_firecracker_json(config_file: Path, tmp_path: Path) -> None:
    tarball = write_fake_release(tmp_path / "dist")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    args = ["install", "firecracker", "--from", str(tarball), "--sha256", digest, "--json"]
    result = CliRunner().invoke(
        root, args, env={"ATELIER_CONFIG": str(config_file)}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == "1.17.0-dev" and data["sha256"] == digest
    assert data["firecracker"] == str(tmp_path / "bin" / "firecracker")
    assert data["vmm"]["driver"] in ("firecracker", "qemu") and data["vmm"]["reason"]
    assert (tmp_path / "bin" / "jailer").exists()


def test_install_without_checksum_is_refused(config_file: Path, tmp_path: Path) -> None:
    tarball = write_fake_release(tmp_path / "dist")
    args = ["install", "firecracker", "--from", str(tarball)]
    result = CliRunner().invoke(root, args, env={"ATELIER_CONFIG": str(config_file)})
    assert isinstance(result.exception, ValidationError)
    assert result.exception.field == "sha256"
    assert not (tmp_path / "bin").exists()
