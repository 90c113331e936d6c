"""`atelier up` prepares a host on its embedded defaults, and a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, client_config_path
from atelier.core.host_admin import local_auth
from atelier.core.up import prepare
from atelier.runtime.storage import PoolSpec, teardown_pool
from tests.managerkit import paths

pytestmark = [pytest.mark.root]


async def test_up_prepares_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = AtelierConfig(paths=paths(tmp_path))
    said: list[str] = []
    pool = config.storage.pool_path(config.paths.data_dir)
    image = config.storage.image_path(config.paths.data_dir)
    try:
        first = await prepare(config, said.append, unit_dir=None)
        assert first.kernel and first.image == "minimal"
        assert first.storage.startswith("reflink"), first.storage
        assert first.admin == "admin" and first.token and first.token.startswith("atl_")
        settings = json.loads(client_config_path().read_text())
        assert settings == {"url": "http://127.0.0.1:4000", "token": first.token}
        assert oct(client_config_path().stat().st_mode & 0o777) == "0o600"
        async with local_auth(config) as auth:
            assert (await auth.authenticate(first.token)).username == "admin"
            assert first.password is not None
            assert (await auth.verify_password("admin", first.password)).username == "admin"

        second = await prepare(config, said.append, unit_dir=None)
        assert second.admin is None and second.token is None, "a second admin was made"
        assert second.password is None
        assert not any(n.startswith("storage:") for n in second.notes), second.notes
        assert json.loads(client_config_path().read_text())["token"] == first.token
    finally:
        if image.exists():
            await teardown_pool(PoolSpec(image, pool, 0, config.storage.pool_fs))
