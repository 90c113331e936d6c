"""A fake of Caddy 2.6's admin API for `httpx.MockTransport`, with Caddy's quirks.

It keeps one JSON config and answers `/load`, `/config/<path>` (GET, PUT inserts into
arrays, POST appends, PATCH replaces, DELETE removes) and `/id/<id>`. Like Caddy it accepts
a duplicate `@id` silently and resolves an id to its *last* occurrence, refuses a Host other
than the configured origin, and skips a `/load` of an unchanged config unless asked to
revalidate. Integration tests check the real Caddy; this one lets unit tests see the calls.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

Container = dict[str, Any] | list[Any]


class FakeCaddyAdmin:
    def __init__(self, origin: str = "caddy-admin") -> None:
        self.origin = origin
        self.config: Any = None
        self.loads = 0
        self.requests: list[tuple[str, str]] = []
        self.down = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("fake caddy: connection refused", request=request)
        path = request.url.path
        self.requests.append((request.method, path))
        if request.headers.get("host") != self.origin:
            return _error(403, f"host not allowed: {request.headers.get('host')}")
        body = json.loads(request.content) if request.content else None
        if path == "/load" and request.method == "POST":
            return self._load(body, request.headers.get("cache-control") == "must-revalidate")
        if path.startswith("/id/"):
            return self._by_id(request.method, path[len("/id/") :], body)
        if path.startswith("/config"):
            parts = [p for p in path[len("/config") :].split("/") if p]
            return self._by_path(request.method, parts, body)
        return _error(404, "not found")

    def _load(self, body: Any, revalidate: bool) -> httpx.Response:
        if body != self.config or revalidate:
            self.config = copy.deepcopy(body)
            self.loads += 1
        return httpx.Response(200)

    def _by_path(self, method: str, parts: list[str], body: Any) -> httpx.Response:
        if not parts:
            if method == "GET":
                return httpx.Response(200, json=self.config)
            return _error(405, "method not allowed")
        try:
            parent = self._walk(parts[:-1])
        except (KeyError, IndexError, TypeError, ValueError):
            return _error(400, f"invalid traversal path at: {'/'.join(parts)}")
        last = parts[-1]
        try:
            return self._apply(method, parent, last, body)
        except (KeyError, IndexError, TypeError, ValueError):
            return _error(400, f"invalid traversal path at: {'/'.join(parts)}")

    def _walk(self, parts: list[str]) -> Any:
        node = self.config
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _apply(self, method: str, parent: Any, key: str, body: Any) -> httpx.Response:
        if method == "GET":
            value = parent[int(key)] if isinstance(parent, list) else parent[key]
            return httpx.Response(200, json=value)
        if isinstance(parent, dict):
            target = parent[key]
            if method == "POST" and isinstance(target, list):
                target.append(copy.deepcopy(body))
            elif method == "DELETE":
                del parent[key]
            else:
                parent[key] = copy.deepcopy(body)
            return httpx.Response(200)
        index = int(key)
        if method == "PUT":
            parent.insert(index, copy.deepcopy(body))
        elif method == "PATCH":
            parent[index] = copy.deepcopy(body)
        elif method == "DELETE":
            del parent[index]
        else:
            return _error(405, "method not allowed")
        return httpx.Response(200)

    def _occurrences(self, node: Any, ident: str, out: list[tuple[Container, Any]]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict) and child.get("@id") == ident:
                out.append((node, key))
            if isinstance(child, dict | list):
                self._occurrences(child, ident, out)

    def _by_id(self, method: str, ident: str, body: Any) -> httpx.Response:
        found: list[tuple[Container, Any]] = []
        if self.config is not None:
            self._occurrences(self.config, ident, found)
        if not found:
            return _error(404, f"unknown object ID '{ident}'")
        parent, key = found[-1]
        if method == "GET":
            return httpx.Response(200, json=parent[key])
        if method == "PATCH":
            parent[key] = copy.deepcopy(body)
        elif method == "DELETE":
            del parent[key]
        else:
            return _error(405, "method not allowed")
        return httpx.Response(200)

    def routes(self, server: str = "atelier") -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = self.config["apps"]["http"]["servers"][server]["routes"]
        return routes

    def ids(self, server: str = "atelier") -> list[str | None]:
        return [r.get("@id") for r in self.routes(server)]


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message})
