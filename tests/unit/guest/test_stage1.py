"""Stage 1 cannot run outside a VM; check it parses under busybox sh and keeps its contract."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from atelier.runtime.host import proc

STAGE1 = Path(__file__).resolve().parents[3] / "src" / "atelier" / "guest" / "stage1.sh"


def test_is_an_executable_busybox_script_that_switches_to_the_python_init() -> None:
    text = STAGE1.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert os.access(STAGE1, os.X_OK)
    assert "exec switch_root /sysroot /usr/bin/python3 -I -S /run/atelier/init" in text
    assert "atelier.root=" in text and "/atelier/modules.list" in text


@pytest.mark.skipif(
    shutil.which("busybox") is None, reason="needs busybox (apt-get install busybox-static)"
)
async def test_parses_under_busybox_sh() -> None:
    await proc.run(["busybox", "sh", "-n", str(STAGE1)], timeout=10)
