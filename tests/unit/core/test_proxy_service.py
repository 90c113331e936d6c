"""The proxy service: route lifecycle calls, reconcile, hooks, with fake driver and directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.core.auth import Principal
from atelier.core.manager import Manager
from atelier.core.proxy import ProxyService, RunningSandbox, install_proxy
from atelier.errors import Forbidden, NotFound, ValidationError
from atelier.runtime.host.names import new_id, route_id
from atelier.runtime.network.base import Endpoint
from atelier.runtime.proxy.base import InstalledRoute, RouteSpec
from tests.fakes.proxy_driver import FakeProxyDriver
from tests.fakes.sandbox_directory import FakeDirectory

CODE = Endpoint("tcp", "172.16.0.2", 13337)
OPENCODE = Endpoint("tcp", "172.16.0.2", 4096)
DEV = Endpoint("unix", path=Path("/run/atelier/atl-dial-x-5173.sock"))


def config(tmp_path: Path, caddy: str = "service") -> AtelierConfig:
    return AtelierConfig(
        paths={"data_dir": tmp_path / "data", "run_dir": tmp_path / "run", "cache_dir": tmp_path},
        proxy={"caddy": caddy, "domain": "atelier.test", "resync_interval_s": 3600},
    )


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    mgr = Manager(config(tmp_path))
    try:
        yield mgr
    finally:
        await mgr.stop()


@pytest.fixture
def driver() -> FakeProxyDriver:
    return FakeProxyDriver()


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def service(manager: Manager, directory: FakeDirectory, driver: FakeProxyDriver) -> ProxyService:
    return install_proxy(manager, directory, driver=driver)


async def test_running_and_stopped(service: ProxyService, driver: FakeProxyDriver) -> None:
    sid = new_id()
    urls = await service.sandbox_running(sid, {"code": CODE, "opencode": OPENCODE})
    assert urls == {
        "code": f"https://sandbox-{sid}.atelier.test/",
        "opencode": f"https://opencode-{sid}.atelier.test/",
    }
    assert set(driver.ids()) == {route_id("code", sid), route_id("opencode", sid)}
    assert service.urls(sid)["browser"] == f"https://browser-{sid}.atelier.test/"
    url = await service.dev_started(sid, "web", DEV)
    assert url == f"https://dev-web-{sid}.atelier.test/"
    dev = next(r for r in driver.table if r.spec.route_id == route_id("dev", sid, "web"))
    assert dev.spec.upstream == "unix//run/atelier/atl-dial-x-5173.sock"
    other = new_id()
    await service.sandbox_running(other, {"code": CODE})
    await service.sandbox_stopped(sid)
    assert driver.ids() == [route_id("code", other)]
    await service.dev_started(other, "api", DEV)
    await service.dev_stopped(other, "api")
    assert driver.ids() == [route_id("code", other)]


async def test_resync(
    service: ProxyService, driver: FakeProxyDriver, directory: FakeDirectory
) -> None:
    running, stopped = new_id(), new_id()
    directory.add(running, "owner001", services={"code": CODE, "browser": OPENCODE})
    directory.add_dev(running, "web", 5173, endpoint=DEV)
    directory.add_dev(running, "idle", 8000)  # defined but not running: no route
    directory.add(stopped, "owner001", services={"code": CODE}, running=False)
    stale = RouteSpec(route_id("code", stopped), f"sandbox-{stopped}.atelier.test", "x:1")
    moved = RouteSpec(route_id("code", running), f"sandbox-{running}.atelier.test", "old:1")
    driver.table = [
        InstalledRoute(stale, True),
        InstalledRoute(moved, True),
        InstalledRoute(moved, True),
    ]
    report = await service.resync()
    assert report.base_reloaded
    assert report.removed == (route_id("code", stopped),)
    assert report.updated == (route_id("code", running),)
    assert sorted(report.added) == sorted(
        [route_id("browser", running), route_id("dev", running, "web")]
    )
    assert sorted(driver.ids()) == sorted(
        [route_id("code", running), route_id("browser", running), route_id("dev", running, "web")]
    )
    assert (await service.resync()).to_dict() == {
        "added": [], "updated": [], "removed": [], "base_reloaded": False,
    }  # fmt: skip
    # An explicit list (what the lifecycle knows at start) wins over the directory.
    report = await service.resync([RunningSandbox(running, {"code": CODE})])
    assert sorted(report.removed) == sorted(
        [route_id("browser", running), route_id("dev", running, "web")]
    )


async def test_set_visibility(
    manager: Manager, service: ProxyService, directory: FakeDirectory
) -> None:
    sid = new_id()
    directory.add(sid, "owner001", ("member01",))
    directory.add_dev(sid, "web", 5173)
    owner = Principal("owner001", "owner", "member")
    member = Principal("member01", "member", "member")
    stranger = Principal("strangr1", "stranger", "admin")
    events = manager.bus.subscribe()
    port = await service.set_visibility(owner, sid, "web", "public")
    assert port.visibility == "public"
    assert (await directory.dev_port(sid, "web")) == port
    event = await events.get()
    assert event.type == "sandbox.dev_visibility"
    assert event.data["url"] == f"https://dev-web-{sid}.atelier.test/"
    assert event.audience == frozenset({"owner001", "member01"})
    events.close()
    with pytest.raises(Forbidden):
        await service.set_visibility(member, sid, "web", "private")
    with pytest.raises(NotFound):
        await service.set_visibility(stranger, sid, "web", "private")
    with pytest.raises(NotFound):
        await service.set_visibility(owner, sid, "api", "private")
    with pytest.raises(ValidationError, match="visibility 'world'"):
        await service.set_visibility(owner, sid, "web", "world")


async def test_manager_hooks_probe_and_watch(
    manager: Manager, service: ProxyService, driver: FakeProxyDriver, directory: FakeDirectory
) -> None:
    sid = new_id()
    directory.add(sid, "owner001", services={"code": CODE})
    await manager.start()
    assert driver.started and driver.ids() == [route_id("code", sid)]
    assert "proxy-resync" in {t.get_name() for t in manager.background.tasks}
    checks = {c.name: c for c in await manager.health()}
    assert checks["proxy"].ok and "fake" in checks["proxy"].detail
    directory.remove(sid)
    await service.tick()
    assert driver.ids() == []
    driver.fail.add("ensure_base")  # Caddy went away: tick starts it again
    starts = driver.calls.count(("start", ""))
    await service.tick()
    assert driver.calls.count(("start", "")) == starts + 1
    driver.fail.update({"routes", "start"})
    await service.tick()  # logged, not raised
    await manager.stop()
    assert not driver.started


async def test_unreachable_proxy_does_not_stop_the_manager(
    manager: Manager, service: ProxyService, driver: FakeProxyDriver
) -> None:
    driver.fail.add("start")
    await manager.start()
    assert manager.ready


async def test_proxy_off(tmp_path: Path, directory: FakeDirectory) -> None:
    manager = Manager(config(tmp_path, caddy="off"))
    try:
        service = install_proxy(manager, directory)
        assert service.driver is None
        sid = new_id()
        assert await service.sandbox_running(sid, {"code": CODE}) == {}
        assert await service.dev_started(sid, "web", DEV) is None
        await service.sandbox_stopped(sid)
        assert (await service.resync()).to_dict()["added"] == []
        await manager.start()
        checks = {c.name: c for c in await manager.health()}
        assert checks["proxy"].ok and checks["proxy"].detail.startswith("off")
    finally:
        await manager.stop()
