"""`atelier update` from a locally built wheel upgrades a running manager while a sandbox
keeps running.

Two wheels are built from this checkout (the second from a copy whose version is bumped to
0.1.0.post1) into a separate test venv, whose dependencies come from the repository's venv
through a .pth file (so the test needs no downloads beyond the build backend). The manager
runs from that venv in its own process group, the way its systemd unit runs it; `update`
stops that group, runs the migrations with the new code and starts the new version,
which re-adopts the VM: same QEMU pid, and it still answers exec.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.runtime.host import proc
from tests.hostkit import vms_named
from tests.integration.manager.conftest import (
    ManagerProcess,
    api,
    free_port,
    json_of,
    make_user,
    manager_config,
    wait_until_ready,
)

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[3]
NEW_VERSION = "0.1.0.post1"
UV_CANDIDATES = ("/opt/atelier-tools/bin/uv", "/tmp/probe-venv/bin/uv")


def find_uv() -> str | None:
    for candidate in UV_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return proc.which("uv")


async def build_wheel(uv: str, source: Path, out: Path, cache: Path) -> Path:
    await proc.run(
        [uv, "build", "--wheel", "--out-dir", out, source],
        timeout=600,
        env={"UV_CACHE_DIR": str(cache)},
    )
    (wheel,) = out.glob("atelier-*.whl")
    return wheel


def bumped_copy(dest: Path) -> Path:
    """A copy of the project with its version bumped, for the 'new' wheel."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for path, old, new in (
        (dest / "pyproject.toml", 'version = "0.1.0"', f'version = "{NEW_VERSION}"'),
        (dest / "src/atelier/__init__.py", '__version__ = "0.1.0"', f'__version__ = "{NEW_VERSION}"'),
    ):  # fmt: skip
        text = path.read_text()
        assert old in text, f"{path} no longer holds {old!r}"
        path.write_text(text.replace(old, new, 1))
    return dest


async def make_venv(uv: str, venv: Path, wheel: Path) -> None:
    await proc.run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    site = (
        venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )
    deps = REPO / ".venv" / site.relative_to(venv)
    (site / "zz_repo_deps.pth").write_text(f"{deps}\n")
    await proc.run(
        [uv, "pip", "install", "--python", venv / "bin" / "python", "--no-deps", wheel], timeout=300
    )


class VenvManager(ManagerProcess):
    """ManagerProcess running `atelier serve` from the test venv."""

    def __init__(self, config: AtelierConfig, workdir: Path, venv: Path) -> None:
        super().__init__(config, workdir)
        self.venv = venv

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await proc.spawn(
                [self.venv / "bin" / "atelier", "serve"],
                env={"ATELIER_CONFIG": str(self.config_file)},
                stdout=log,
                stderr=log,
            )
        await wait_until_ready(self.url, self.process, self.log, within_s=120)


def kill_group(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)


async def test_update_from_wheel_keeps_the_sandbox_running(
    tmp_path: Path, pool: Path, artifacts_dir: Path
) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("needs uv (scripts/install.sh installs it to /opt/atelier-tools/bin/uv)")
    cache = tmp_path / "uv-cache"
    old_wheel = await build_wheel(uv, REPO, tmp_path / "dist-old", cache)
    copy = tmp_path / "src-new"
    copy.mkdir()
    new_wheel = await build_wheel(uv, bumped_copy(copy), tmp_path / "dist-new", cache)
    venv = tmp_path / "venv"
    await make_venv(uv, venv, old_wheel)

    config = manager_config(tmp_path, pool, free_port())
    # Loopback and a free port: other managers on this machine may hold the default 2222.
    ssh = config.ssh.model_copy(update={"port": free_port(), "listen_host": "127.0.0.1"})
    config = config.model_copy(update={"ssh": ssh})
    alice = await make_user(config, "alice")
    manager = VenvManager(config, tmp_path, venv)
    new_pid: int | None = None
    sandbox = ""
    try:
        await manager.start()
        async with await api(manager.url, alice.token) as client:
            health = json_of(await client.get("/health"))
            assert health["version"] == "0.1.0"
            sandbox = json_of(await client.post("/api/sandboxes?wait=true", json={}))["id"]
            vm_pids = vms_named(f"atl-sbx-{sandbox}")
            assert len(vm_pids) == 1
        assert manager.process is not None
        done = await proc.run(
            [
                venv / "bin" / "atelier", "update", "--wheel", new_wheel, "--venv", venv,
                "--no-deps", "--uv", uv, f"--restart=pid:{manager.process.pid}",
                "--manager-log", tmp_path / "manager-new.log", "--json",
            ],
            timeout=900,
            env={"ATELIER_CONFIG": str(manager.config_file), "UV_CACHE_DIR": str(cache)},
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        report = json.loads(done.stdout)
        (artifacts_dir / "update.json").write_text(json.dumps(report, indent=2))
        new_pid = report["manager_pid"]
        assert report["before"] == "0.1.0" and report["after"] == NEW_VERSION, report
        assert any("migrations" in step for step in report["steps"]), report
        assert new_pid and new_pid != manager.process.pid
        await manager.process.wait()
        async with await api(manager.url, alice.token) as client:
            assert json_of(await client.get("/health"))["version"] == NEW_VERSION
            view = json_of(await client.get(f"/api/sandboxes/{sandbox}"))
            assert view["status"] == "running", view
            assert vms_named(f"atl-sbx-{sandbox}") == vm_pids, "the VM was restarted"
            echo = json_of(
                await client.post(f"/api/sandboxes/{sandbox}/exec", json={"argv": ["echo", "hi"]})
            )
            assert echo["stdout"] == "hi\n"
            assert (await client.delete(f"/api/sandboxes/{sandbox}")).status_code == 204
    finally:
        await manager.stop()
        kill_group(new_pid)
        for log in (manager.log, tmp_path / "manager-new.log"):
            if log.exists():
                (artifacts_dir / log.name).write_bytes(log.read_bytes())
        if new_pid is not None:
            await proc.wait_for_exit(new_pid, 30)
        for pid in vms_named(f"atl-sbx-{sandbox}") if sandbox else []:
            os.kill(pid, signal.SIGKILL)
