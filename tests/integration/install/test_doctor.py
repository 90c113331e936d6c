"""`atelier doctor` on this machine: the real table, and the same as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from atelier.runtime.host import proc

ATELIER = Path(sys.prefix) / "bin" / "atelier"


async def test_doctor_prints_every_requirement_with_fixes(artifacts_dir: Path) -> None:
    table = await proc.run([ATELIER, "doctor"], timeout=120, env={"COLUMNS": "160"})
    (artifacts_dir / "doctor.txt").write_bytes(table.stdout)
    text = table.text
    for row in ("Debian 12", "hardware KVM", "qemu-system-x86_64", "vmm", "guest kernel"):
        assert row in text, text
    data = json.loads((await proc.run([ATELIER, "doctor", "--json"], timeout=120)).stdout)
    names = [r["name"] for r in data["requirements"]]
    assert "mkfs.xfs" in names and "systemd units" in names
    for requirement in data["requirements"]:
        assert requirement["ok"] or requirement["fix"], requirement
