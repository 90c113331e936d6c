"""`atelier init --root <tmp>` twice: the second run changes nothing, and the generated
units pass `systemd-analyze verify`.

The config file is pre-filled (`setup.*`), so init asks nothing. The package caches are
installed for real into the staging root (npm and PyPI downloads, about a minute). Host
steps (pool mount, bridge, systemctl, kernel and image builds) are reported as skipped.
`systemd-analyze verify --root` needs the system's own units and every ExecStart program
inside the root: the test copies /usr/lib/systemd/system there and puts executable stubs
at the paths of programs that live outside it (atelier's venv, caddy, find).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.host import proc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ATELIER = Path(sys.prefix) / "bin" / "atelier"
PREFILLED = {
    "setup": {"domain": "example.test", "admin": "ops", "kernel": "skip", "storage": "pool"},
    "network": {"driver": "user"},
}


async def init(root: Path) -> dict[str, Any]:
    done = await proc.run([ATELIER, "init", "--root", root, "--json"], timeout=1100)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def tree(root: Path) -> dict[str, tuple[str, float]]:
    """Every file under root with its content hash and mtime."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (digest, path.stat().st_mtime)
    return found


def stub(root: Path, program: str) -> None:
    target = root / program.lstrip("/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\nexit 0\n")
        target.chmod(0o755)


async def test_init_root_twice_changes_nothing_and_units_verify(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    root = tmp_path / "root"
    config_file = root / "etc" / "atelier" / "sandbox.config.json"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps(PREFILLED))

    first = await init(root)
    (artifacts_dir / "init-1.json").write_text(json.dumps(first, indent=2))
    assert first["changed"]
    assert first["admin_token"], "the first run creates the admin and shows its token once"
    states = {p["step"]: p["state"] for p in first["plan"]}
    for host_step in ("kernel", "images", "storage", "enable"):
        assert states[host_step] == "skipped", first["plan"]
    assert states["network"] == "ok", first["plan"]  # the user driver sets nothing up
    written = json.loads(config_file.read_text())
    assert written["setup"]["admin"] == "ops" and written["registry"]["mode"] == "service"
    assert written["proxy"]["domain"] == "example.test"

    before = tree(root)
    second = await init(root)
    (artifacts_dir / "init-2.json").write_text(json.dumps(second, indent=2))
    assert not second["changed"], second["steps"]
    assert second["admin_token"] is None
    assert {p["state"] for p in second["plan"]} <= {"ok", "skipped"}, second["plan"]
    skipped = [(p["step"], p["detail"]) for p in second["plan"] if p["state"] == "skipped"]
    assert skipped == [(p["step"], p["detail"]) for p in first["plan"] if p["state"] == "skipped"]
    assert tree(root) == before, "the second run changed files"

    units = sorted((root / "etc" / "systemd" / "system").iterdir())
    assert {u.name for u in units} >= {
        "atelier-manager.service", "atelier-network.service", "atelier-verdaccio.service",
        "atelier-pypi-cache.service", "atelier-caddy.service", "var-lib-atelier-pool.mount",
    }  # fmt: skip
    manager = (root / "etc/systemd/system/atelier-manager.service").read_text()
    assert "KillMode=process" in manager and f"ExecStart={ATELIER} serve" in manager

    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in units:
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                stub(root, line.split("=", 1)[1].lstrip("-").split()[0])
    done = await proc.run(
        ["systemd-analyze", "verify", f"--root={root}", *units], timeout=120, check=False
    )
    report = done.stdout.decode() + done.stderr.decode()
    (artifacts_dir / "systemd-analyze.txt").write_text(report)
    assert done.returncode == 0, report
    assert "Unknown key" not in report and "Unknown section" not in report, report
