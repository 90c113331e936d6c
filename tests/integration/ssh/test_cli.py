"""`atelier ssh-key|ssh|ssh-config` against a real manager served over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
import uvicorn
from typer.testing import CliRunner

from atelier.api.app import create_app
from atelier.cli import output
from atelier.cli.app import root
from atelier.config import AtelierConfig
from atelier.core.manager import Manager
from atelier.errors import NotFound
from tests.integration.ssh.harness import free_port


@dataclass
class Live:
    env: dict[str, str]
    home: Path


def _config(tmp_path: Path) -> AtelierConfig:
    return AtelierConfig(
        paths={"data_dir": tmp_path / "d", "run_dir": tmp_path / "r", "cache_dir": tmp_path},
        ssh={"port": 2201, "enabled": False},
    )


async def _token(config: AtelierConfig) -> str:
    manager = Manager(config)
    try:
        await manager.db.migrate()
        user = await manager.auth.create_user("alice")
        return (await manager.auth.create_token(user.id, "cli"))[1]
    finally:
        await manager.db.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    config = _config(tmp_path)
    token = asyncio.run(_token(config))
    port = free_port()
    app = create_app(Manager(config))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the manager did not start"
            time.sleep(0.05)
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        env = {"ATELIER_URL": f"http://127.0.0.1:{port}", "ATELIER_TOKEN": token, "HOME": str(home)}
        yield Live(env, home)
    finally:
        server.should_exit = True
        thread.join(30)
        output.state.json = False


def cli(live: Live, *args: str) -> str:
    result = CliRunner().invoke(root, list(args), env=live.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ssh_key_add_list_rm(live: Live) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    key.write_public_key(live.home / ".ssh" / "id_ed25519.pub")
    added = json.loads(cli(live, "ssh-key", "add", "--expires-in-days", "30", "--json"))
    assert added["name"] == "me@laptop" and added["fingerprint"] == key.get_fingerprint()
    listing = cli(live, "ssh-key", "list")
    assert "me@laptop" in listing and key.get_fingerprint() in listing
    assert [k["id"] for k in json.loads(cli(live, "ssh-key", "list", "--json"))] == [added["id"]]
    assert "removed me@laptop" in cli(live, "ssh-key", "rm", "me@laptop")
    with pytest.raises(NotFound, match="no SSH key 'me@laptop'"):
        CliRunner().invoke(
            root, ["ssh-key", "rm", "me@laptop"], env=live.env, catch_exceptions=False
        )


def test_ssh_dry_run_and_config(live: Live) -> None:
    argv = cli(live, "ssh", "abcdefgh", "--dry-run", "--", "-L", "3000:localhost:3000", "ls")
    assert argv == "ssh -p 2201 abcdefgh@127.0.0.1 -L 3000:localhost:3000 ls\n"
    config = CliRunner().invoke(root, ["ssh-config"], env=live.env, catch_exceptions=False)
    assert config.exit_code == 0
    assert config.stdout.startswith("# Atelier sandboxes through the SSH gateway at 127.0.0.1:2201")
    assert "ssh-ed25519 " in config.stdout
