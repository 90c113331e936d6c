"""Reconcile against the real Caddy: lost config, duplicates, stale and foreign routes."""

from __future__ import annotations

from atelier.core.proxy.tokens import ProxyKeys
from atelier.runtime.host.names import new_id, route_id
from atelier.runtime.proxy.base import RouteSpec
from atelier.runtime.proxy.caddy import admin_client
from atelier.runtime.proxy.caddy_config import ROUTES_PATH, CaddyLayout
from tests.integration.proxy.harness import Recorder, Stack, retry_tls


def layout(stack: Stack) -> CaddyLayout:
    keys = ProxyKeys.from_data_dir(stack.manager.config.paths.data_dir)
    return CaddyLayout(stack.proxy.settings, keys.caddy_secret)


async def test_resync_heals_a_caddy_that_lost_its_routes(stack: Stack, recorder: Recorder) -> None:
    owner = await stack.manager.auth.create_user("owner")
    _, token = await stack.manager.auth.create_token(owner.id, "cli")
    bearer = {"Authorization": f"Bearer {token}"}
    sid = new_id()
    stack.directory.add(sid, owner.id, services={"code": recorder.endpoint})
    stack.directory.add_dev(sid, "api", 8000, endpoint=recorder.endpoint)
    report = await stack.proxy.resync()
    assert sorted(report.added) == [route_id("code", sid), route_id("dev", sid, "api")]
    url = stack.url(f"sandbox-{sid}.atelier.test")
    async with await stack.client() as client:
        assert (await retry_tls(lambda: client.get(url, headers=bearer))).status_code == 200
        # Caddy restarted from its base config file (what a service restart does).
        async with admin_client(stack.proxy.settings) as admin:
            (await admin.post("/load", json=layout(stack).base_config())).raise_for_status()
        assert (await client.get(url, headers=bearer)).status_code == 404
        await stack.proxy.tick()
        assert (await retry_tls(lambda: client.get(url, headers=bearer))).status_code == 200
    assert await stack.proxy.resync() == type(report)()


async def test_resync_removes_stale_and_duplicate_routes_only(
    stack: Stack, recorder: Recorder
) -> None:
    running, stopped, gone = new_id(), new_id(), new_id()
    stack.directory.add(running, "owner000", services={"code": recorder.endpoint})
    stack.directory.add(stopped, "owner000", services={"code": recorder.endpoint}, running=False)
    rendered = layout(stack)
    foreign = {"@id": "someone-else", "match": [{"host": ["other.test"]}], "handle": []}
    routes = [
        rendered.service_route(RouteSpec(route_id("code", running), "old.atelier.test", "x:1")),
        rendered.service_route(
            RouteSpec(route_id("code", running), f"sandbox-{running}.atelier.test", "x:1")
        ),
        rendered.service_route(
            RouteSpec(route_id("browser", stopped), f"browser-{stopped}.atelier.test", "x:2")
        ),
        rendered.service_route(
            RouteSpec(route_id("dev", gone, "web"), f"dev-web-{gone}.atelier.test", "x:3")
        ),
        foreign,
    ]
    async with admin_client(stack.proxy.settings) as admin:
        for route in routes:
            (await admin.put(f"{ROUTES_PATH}/0", json=route)).raise_for_status()
        report = await stack.proxy.resync()
        live = (await admin.get(ROUTES_PATH)).json()
    assert report.updated == (route_id("code", running),)
    assert sorted(report.removed) == sorted(
        [route_id("browser", stopped), route_id("dev", gone, "web")]
    )
    ids = [r.get("@id") for r in live]
    assert ids == [route_id("code", running), "someone-else", "atl-rt-dashboard", "atl-rt-fallback"]
    assert live[0]["match"][0]["host"] == [f"sandbox-{running}.atelier.test"]
