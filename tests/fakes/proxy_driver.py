"""An in-memory `ProxyDriver`: routes in a list (duplicates possible, as in Caddy).

`fail` makes the next call of a method raise ProxyUnavailable; `calls` records
(method, route id) in order.
"""

from __future__ import annotations

from atelier.runtime.host import names
from atelier.runtime.proxy.base import CertStatus, InstalledRoute, ProxyStatus, RouteSpec
from atelier.runtime.proxy.errors import ProxyUnavailable


class FakeProxyDriver:
    name = "fake"

    def __init__(self) -> None:
        self.table: list[InstalledRoute] = []
        self.base_loaded = False
        self.started = False
        self.reloads = 0
        self.fail: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def _check(self, method: str, arg: str = "") -> None:
        self.calls.append((method, arg))
        if method in self.fail:
            self.fail.discard(method)
            raise ProxyUnavailable(f"fake proxy: {method} failed")

    def ids(self) -> list[str]:
        return [r.spec.route_id for r in self.table]

    async def start(self) -> None:
        self._check("start")
        self.started = True
        await self.ensure_base()

    async def stop(self) -> None:
        self._check("stop")
        self.started = False

    async def ensure_base(self) -> bool:
        self._check("ensure_base")
        loaded = not self.base_loaded
        self.base_loaded = True
        return loaded

    async def routes(self) -> list[InstalledRoute]:
        self._check("routes")
        return list(self.table)

    async def put_route(self, spec: RouteSpec) -> None:
        self._check("put_route", spec.route_id)
        assert names.parse_route_id(spec.route_id) is not None
        for index, installed in enumerate(self.table):
            if installed.spec.route_id == spec.route_id:
                self.table[index] = InstalledRoute(spec, True)
                return
        self.table.insert(0, InstalledRoute(spec, True))

    async def delete_route(self, route_id: str) -> bool:
        self._check("delete_route", route_id)
        before = len(self.table)
        self.table = [r for r in self.table if r.spec.route_id != route_id]
        return len(self.table) < before

    async def status(self) -> ProxyStatus:
        cert = CertStatus(True, "fake certificate")
        return ProxyStatus(True, self.base_loaded, len(self.table), cert, "fake")

    async def reload_certificates(self) -> None:
        self._check("reload_certificates")
        self.reloads += 1
