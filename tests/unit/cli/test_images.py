"""`atelier images list|rm` and `images kernel list` against stand-in images and kernels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atelier.cli import output
from atelier.cli.app import root
from atelier.config import AtelierConfig, PathsConfig
from atelier.runtime.images.errors import ImageNotFound
from tests.unit.runtime.images.factories import built_image, installed_kernel


@pytest.fixture(autouse=True)
def reset_output() -> Iterator[None]:
    yield
    output.state.json = False


@pytest.fixture
def config(tmp_path: Path) -> AtelierConfig:
    return AtelierConfig(paths=PathsConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "c"))


@pytest.fixture
def env(tmp_path: Path, config: AtelierConfig) -> dict[str, str]:
    path = tmp_path / "sandbox.config.json"
    paths = {"data_dir": str(config.paths.data_dir), "cache_dir": str(config.paths.cache_dir)}
    path.write_text(json.dumps({"paths": paths}))
    return {"ATELIER_CONFIG": str(path)}


def _invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(root, args, env=env)
    return result.exit_code, result.stdout, result.exception


def test_list_json(config: AtelierConfig, env: dict[str, str]) -> None:
    built_image(config, "minimal")
    code, stdout, _ = _invoke(["images", "list", "--json"], env)
    assert code == 0
    (row,) = json.loads(stdout)
    assert row["name"] == "minimal" and row["recommended_memory_mb"] == 512
    assert row["path"] == str(config.paths.images / "minimal" / "rootfs.ext4")


def test_list_table(config: AtelierConfig, env: dict[str, str]) -> None:
    built_image(config, "minimal")
    code, stdout, _ = _invoke(["images", "list"], env)
    assert code == 0 and "minimal" in stdout and "cdcdcdcdcdcd" in stdout


def test_list_empty(env: dict[str, str]) -> None:
    code, stdout, _ = _invoke(["images", "list"], env)
    assert code == 0 and "atelier images build minimal" in stdout


def test_rm(config: AtelierConfig, env: dict[str, str]) -> None:
    built_image(config, "minimal")
    code, stdout, _ = _invoke(["images", "rm", "minimal", "--json"], env)
    assert code == 0 and json.loads(stdout)["removed"] == "minimal"
    assert not (config.paths.images / "minimal").exists()


def test_rm_missing(env: dict[str, str]) -> None:
    _, _, exc = _invoke(["images", "rm", "minimal"], env)
    assert isinstance(exc, ImageNotFound)


def test_kernel_list_json(config: AtelierConfig, env: dict[str, str]) -> None:
    installed_kernel(config, "cloud")
    code, stdout, _ = _invoke(["images", "kernel", "list", "--json"], env)
    assert code == 0
    (row,) = json.loads(stdout)
    assert row["flavour"] == "cloud" and row["current"] is True
    assert Path(row["vmlinux"]).is_file()


def test_kernel_build_rejects_unknown_flavour(env: dict[str, str]) -> None:
    code, _, _ = _invoke(["images", "kernel", "build", "--flavour", "generic"], env)
    assert code != 0
