"""`proxy.caddy = "service"`: Caddy runs on its own (systemd in production); the manager
configures it, and leaves it running when it stops."""

from __future__ import annotations

import pytest

from atelier.core.proxy.tokens import ProxyKeys
from atelier.runtime.host import proc
from atelier.runtime.host.names import new_id
from atelier.runtime.proxy.caddy_config import CaddyLayout
from atelier.runtime.proxy.config import resolve
from atelier.runtime.proxy.process import CaddyProcess
from tests.integration.proxy.harness import Recorder, Stack, caddy_missing, retry_tls


async def test_manager_configures_a_separate_caddy(recorder: Recorder) -> None:
    reason = caddy_missing()
    if reason:
        pytest.skip(reason)
    stack = Stack({"caddy": "service"})
    config = stack.config()
    settings = resolve(
        config.proxy,
        data_dir=config.paths.data_dir,
        run_dir=config.paths.run_dir,
        manager_host=config.server.host,
        manager_port=config.server.port,
    )
    # What `atelier init` + systemd do: write the base config, start Caddy from it.
    secret = ProxyKeys.from_data_dir(config.paths.data_dir).caddy_secret
    service = CaddyProcess(settings)
    try:
        await service.start(CaddyLayout(settings, secret).base_config())
        async with stack:
            owner = await stack.manager.auth.create_user("owner")
            _, token = await stack.manager.auth.create_token(owner.id, "cli")
            sid = new_id()
            stack.directory.add(sid, owner.id, services={"opencode": recorder.endpoint})
            await stack.proxy.sandbox_running(sid, {"opencode": recorder.endpoint})
            async with await stack.client() as client:
                answer = await retry_tls(
                    lambda: client.get(
                        stack.url(f"opencode-{sid}.atelier.test", "/session"),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
            assert answer.status_code == 200
            assert settings.config_file.exists()
        assert service.pid is not None and proc.pid_alive(service.pid)
    finally:
        await service.stop()
