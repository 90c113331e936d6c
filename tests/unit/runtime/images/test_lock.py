"""One build at a time: a second holder of a build lock gets Conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.errors import Conflict
from atelier.runtime.images.lock import build_lock


def test_second_holder_is_refused_until_release(tmp_path: Path) -> None:
    path = tmp_path / "locks" / ".lock"
    held = build_lock(path, "image")
    refused = pytest.raises(Conflict, match="another image build is running")
    with held, refused, build_lock(path, "image"):
        pass
    with build_lock(path, "image"):
        pass
