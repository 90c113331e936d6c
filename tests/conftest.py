"""Shared test configuration: artifact directories, host hygiene, safe defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-results"


@pytest.fixture(autouse=True)
def _no_host_network_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # A manager built from defaults would pick the bridge driver as root and change the
    # machine's root network namespace. Tests that want a network say so in their config
    # (values given in code beat the environment) and put it inside their own namespace.
    if "ATELIER_NETWORK_DRIVER" not in os.environ:  # noqa: TID251 - the test harness itself
        monkeypatch.setenv("ATELIER_NETWORK_DRIVER", "none")
    # Sandboxes that name no image boot `minimal` (seconds to build, quick to boot); tests of
    # dev-base name it.
    if "ATELIER_IMAGES_DEFAULT_IMAGE" not in os.environ:  # noqa: TID251 - the test harness
        monkeypatch.setenv("ATELIER_IMAGES_DEFAULT_IMAGE", "minimal")


def _atelier_links() -> set[str]:
    try:
        return {name for name in os.listdir("/sys/class/net") if name.startswith("atl-")}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def _root_namespace_left_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves an Atelier interface in the machine's root namespace."""
    before = _atelier_links()
    yield
    leaked = _atelier_links() - before
    assert not leaked, f"{request.node.nodeid} left interfaces in the root namespace: {leaked}"


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test directory under test-results/ for logs and screenshots."""
    safe: str = (
        request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
    )
    path = ARTIFACTS / safe
    path.mkdir(parents=True, exist_ok=True)
    return path
