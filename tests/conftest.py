"""Shared test configuration: artifact directory and skip helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-results"


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test directory under test-results/ for logs and screenshots."""
    safe: str = (
        request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
    )
    path = ARTIFACTS / safe
    path.mkdir(parents=True, exist_ok=True)
    return path
