"""The Caddy driver against a fake admin API: ids stay unique, the catch-all stays last."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.host import names
from atelier.runtime.proxy.base import ProxyDriver, RouteSpec
from atelier.runtime.proxy.caddy import CaddyDriver
from atelier.runtime.proxy.config import ProxyConfig, resolve
from atelier.runtime.proxy.errors import ProxyError, ProxyUnavailable
from tests.fakes.caddy_admin import FakeCaddyAdmin

STATIC = [names.ROUTE_DASHBOARD, names.ROUTE_FALLBACK]


def make(
    tmp_path: Path, admin: FakeCaddyAdmin, secret: str = "k", dashboard: str | None = None
) -> CaddyDriver:
    settings = resolve(
        ProxyConfig(domain="atelier.test", dashboard_host=dashboard),
        data_dir=tmp_path,
        run_dir=tmp_path,
        manager_host="127.0.0.1",
        manager_port=4000,
    )
    return CaddyDriver(settings, secret, transport=admin.transport())


def spec(kind: names.RouteKind = "code", dial: str = "10.0.0.2:1") -> RouteSpec:
    ident = names.new_id()
    return RouteSpec(names.route_id(kind, ident), f"sandbox-{ident}.atelier.test", dial)


def test_is_a_proxy_driver(tmp_path: Path) -> None:
    driver: ProxyDriver = make(tmp_path, FakeCaddyAdmin())
    assert isinstance(driver, ProxyDriver)


async def test_start_loads_the_base_config_once(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    assert admin.ids() == STATIC
    assert admin.loads == 1
    assert await driver.ensure_base() is False
    assert admin.loads == 1
    status = await driver.status()
    assert status.reachable and status.base_loaded and status.routes == 0
    await driver.stop()


async def test_put_inserts_before_the_catch_all_and_replaces_by_id(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    first, second = spec(), spec()
    await driver.put_route(first)
    await driver.put_route(second)
    assert admin.ids() == [second.route_id, first.route_id, *STATIC]
    moved = RouteSpec(first.route_id, first.host, "10.0.0.9:2")
    await driver.put_route(moved)
    assert admin.ids() == [second.route_id, first.route_id, *STATIC]
    installed = {r.spec.route_id: r for r in await driver.routes()}
    assert installed[first.route_id].spec == moved and installed[first.route_id].current
    assert (await driver.status()).routes == 2


async def test_duplicates_are_collapsed_and_deleted(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    route = spec()
    raw = driver.layout.service_route(route)
    admin.routes().insert(0, raw)
    admin.routes().insert(0, dict(raw))  # Caddy would accept this POST silently
    await driver.put_route(route)
    assert admin.ids().count(route.route_id) == 1
    admin.routes().insert(0, dict(raw))
    assert await driver.delete_route(route.route_id) is True
    assert admin.ids() == STATIC
    assert await driver.delete_route(route.route_id) is False


async def test_ensure_base_keeps_sandbox_and_foreign_routes(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    await make(tmp_path, admin).start()
    route = spec()
    old = make(tmp_path, admin)
    await old.put_route(route)
    admin.routes().insert(0, {"@id": "operator-route", "handle": []})
    moved = make(tmp_path, admin, secret="rotated", dashboard="ui.atelier.test")
    assert await moved.ensure_base() is True
    assert admin.ids() == ["operator-route", route.route_id, *STATIC]
    assert admin.routes()[-2]["match"] == [{"host": ["ui.atelier.test"]}]
    stale = [r for r in await moved.routes() if not r.current]
    assert [r.spec.route_id for r in stale] == [route.route_id]


async def test_put_reloads_a_lost_base(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    admin.config = {}
    assert await driver.routes() == []
    route = spec()
    await driver.put_route(route)
    assert admin.ids() == [route.route_id, *STATIC]


async def test_reload_certificates_forces_a_load(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    await driver.reload_certificates()
    assert admin.loads == 2


async def test_errors_are_translated(tmp_path: Path) -> None:
    admin = FakeCaddyAdmin()
    driver = make(tmp_path, admin)
    await driver.start()
    with pytest.raises(ProxyError, match="not an Atelier sandbox route id"):
        await driver.put_route(RouteSpec("app-1", "x.atelier.test", "x:1"))
    admin.origin = "elsewhere"
    with pytest.raises(ProxyError, match="host not allowed"):
        await driver.routes()
    admin.down = True
    with pytest.raises(ProxyUnavailable, match="does not answer"):
        await driver.routes()
    status = await driver.status()
    assert not status.reachable and not status.ok
