"""Tree measurement: hard-linked files (npm's platform binaries) count once."""

from __future__ import annotations

import os
from pathlib import Path

from atelier.runtime.images.trees import tree_usage


def test_hard_links_count_once(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    big = root / "bin" / "tool"
    big.write_bytes(b"x" * 100_000)
    os.link(big, root / "bin" / "tool-alias")
    usage = tree_usage(root)
    assert usage.files == 3  # bin, tool, tool-alias
    assert 100_000 <= usage.apparent < 200_000
