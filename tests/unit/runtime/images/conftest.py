"""Fixtures for the image tests: a config whose every path is under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig


@pytest.fixture
def config(tmp_path: Path) -> AtelierConfig:
    """Data, cache and run dirs under tmp_path."""
    paths = PathsConfig(
        data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", run_dir=tmp_path / "run"
    )
    return AtelierConfig(paths=paths)
