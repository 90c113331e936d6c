"""Access decisions: visibility rules, credentials, the handshake, the TLS `ask`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from atelier.core.auth import AuthService
from atelier.core.proxy import AccessGate, ForwardedRequest, SandboxRef
from atelier.core.proxy.access import allows
from atelier.core.proxy.tokens import HostCookies
from atelier.db import Database
from atelier.db.session import sqlite_url
from atelier.runtime.host.names import new_id
from atelier.runtime.proxy.config import ProxyConfig, resolve
from tests.fakes.sandbox_directory import FakeDirectory

SECRET = "caddy-secret"
BROWSER = {"accept": "text/html", "sec-fetch-mode": "navigate"}


@dataclass
class World:
    gate: AccessGate
    auth: AuthService
    directory: FakeDirectory
    owner: str
    member: str
    outsider: str
    sandbox: str

    def host(self, label: str = "sandbox") -> str:
        return f"{label}-{self.sandbox}.atelier.test"

    def request(self, host: str, **headers: str) -> ForwardedRequest:
        cookies = dict(
            part.strip().split("=", 1)
            for part in headers.pop("cookie", "").split(";")
            if "=" in part
        )
        return ForwardedRequest.from_headers(
            {"X-Atelier-Proxy-Secret": SECRET, "X-Atelier-Host": host, "X-Atelier-Uri": "/p?q=1",
             "X-Atelier-Method": "GET", **headers},
            cookies,
        )  # fmt: skip


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database(sqlite_url(tmp_path))
    try:
        await db.migrate()
        auth = AuthService(db)
        owner = (await auth.create_user("owner")).id
        member = (await auth.create_user("member")).id
        outsider = (await auth.create_user("outsider")).id
        directory = FakeDirectory()
        sandbox = new_id()
        directory.add(sandbox, owner, (member,))
        settings = resolve(
            ProxyConfig(domain="atelier.test", https_port=8443),
            data_dir=tmp_path,
            run_dir=tmp_path,
            manager_host="127.0.0.1",
            manager_port=4000,
        )
        gate = AccessGate(
            settings, auth, directory, caddy_secret=SECRET, cookies=HostCookies(b"k" * 32, 3600)
        )
        yield World(gate, auth, directory, owner, member, outsider, sandbox)
    finally:
        await db.close()


def test_visibility_rules() -> None:
    sandbox = SandboxRef("abcdefgh", "owner", frozenset({"member"}))
    assert allows(sandbox, "owner", "private") and not allows(sandbox, "member", "private")
    assert allows(sandbox, "member", "members") and not allows(sandbox, "other", "members")


async def test_without_the_secret_everything_is_not_found(world: World) -> None:
    request = world.request(world.host())
    forged = ForwardedRequest(None, request.host, "/", "GET", None, {})
    assert (await world.gate.authorize(forged)).status == 404
    wrong = ForwardedRequest("guess", request.host, "/", "GET", None, {})
    assert (await world.gate.authorize(wrong)).status == 404
    assert await world.gate.ask("guess", world.host()) is False
    done = await world.gate.complete(None, world.host(), "code", "/", {})
    assert done.status == 404


async def test_tokens(world: World) -> None:
    _, member = await world.auth.create_token(world.member, "cli")
    _, outsider = await world.auth.create_token(world.outsider, "cli")
    _, session = await world.auth.create_token(world.member, "d", kind="session")
    ok = await world.gate.authorize(world.request(world.host(), authorization=f"Bearer {member}"))
    assert ok.status == 200
    stranger = world.request(world.host(), authorization=f"Bearer {outsider}")
    assert (await world.gate.authorize(stranger)).status == 404
    session_as_bearer = world.request(world.host(), authorization=f"Bearer {session}")
    assert (await world.gate.authorize(session_as_bearer)).status == 401
    revoked = await world.gate.authorize(world.request(world.host(), authorization="Bearer atl_x"))
    assert revoked.status == 401 and revoked.headers["WWW-Authenticate"] == "Bearer"
    # A guest app's own Authorization scheme is not an Atelier credential.
    basic = world.request(world.host(), authorization="Basic dXNlcjpwdw==")
    assert (await world.gate.authorize(basic)).status == 401


async def test_unknown_stopped_and_foreign_hosts(world: World) -> None:
    _, token = await world.auth.create_token(world.owner, "cli")
    bearer = {"authorization": f"Bearer {token}"}
    for host in (f"sandbox-{new_id()}.atelier.test", "atelier.atelier.test", "x.other.test"):
        assert (await world.gate.authorize(world.request(host, **bearer))).status == 404
    world.directory.set_running(world.sandbox, False)
    assert (await world.gate.authorize(world.request(world.host(), **bearer))).status == 404


async def test_browser_handshake(world: World) -> None:
    gate = world.gate
    first = await gate.authorize(world.request(world.host(), **BROWSER))
    assert first.status == 302 and first.location is not None
    handoff = urlsplit(first.location)
    assert f"{handoff.scheme}://{handoff.netloc}" == "https://atelier.atelier.test:8443"
    assert handoff.path == "/auth/handoff"
    query = {k: v[0] for k, v in parse_qs(handoff.query).items()}
    assert query["host"] == world.host() and query["next"] == "/p?q=1"
    (state_cookie,) = first.cookies
    assert state_cookie.name == "__Host-atelier_state" and state_cookie.secure
    assert state_cookie.value == query["state"]
    # A second anonymous request reuses the state already in the browser.
    again = await gate.authorize(
        world.request(world.host(), cookie=f"__Host-atelier_state={query['state']}", **BROWSER)
    )
    assert again.cookies[0].value == query["state"]

    _, session = await world.auth.create_token(world.member, "d", kind="session")
    code_answer = await gate.handoff(session, query["host"], query["next"], query["state"], "/x")
    assert code_answer.status == 302 and code_answer.location is not None
    back = urlsplit(code_answer.location)
    assert back.netloc == f"{world.host()}:8443" and back.path == "/__atelier/auth"
    code = parse_qs(back.query)["code"][0]

    state = {"__Host-atelier_state": query["state"]}
    done = await gate.complete(SECRET, world.host() + ":8443", code, "/p?q=1", state)
    assert done.status == 302 and done.location == "/p?q=1"
    host_cookie, cleared = done.cookies
    assert host_cookie.name == "__Host-atelier_sbx" and host_cookie.max_age == 3600
    assert cleared.name == "__Host-atelier_state" and cleared.max_age == 0
    replay = await gate.complete(SECRET, world.host(), code, "/", state)
    assert replay.status == 401

    with_cookie = world.request(world.host(), cookie=f"__Host-atelier_sbx={host_cookie.value}")
    assert (await gate.authorize(with_cookie)).status == 200
    # The member is removed: the cookie stops working at once.
    world.directory.add(world.sandbox, world.owner, ())
    assert (await gate.authorize(with_cookie)).status == 404


async def test_handoff_refusals(world: World) -> None:
    gate = world.gate
    state = "s" * 24
    login = await gate.handoff(None, world.host(), "/", state, "/auth/handoff?host=h")
    assert login.status == 302
    assert login.location == (
        "https://atelier.atelier.test:8443/login?next=%2Fauth%2Fhandoff%3Fhost%3Dh"
    )
    expired = await gate.handoff("atl_bogus", world.host(), "/", state, "/x")
    assert expired.status == 302 and expired.location is not None
    _, outsider = await world.auth.create_token(world.outsider, "d", kind="session")
    assert (await gate.handoff(outsider, world.host(), "/", state, "/x")).status == 404
    _, member = await world.auth.create_token(world.member, "d", kind="session")
    assert (await gate.handoff(member, "evil.example", "/", state, "/x")).status == 404
    assert (await gate.handoff(member, world.host(), "/", "bad", "/x")).status == 404
    open_redirect = await gate.handoff(member, world.host(), "https://evil/", state, "/x")
    assert open_redirect.location is not None and "next=%2F" in open_redirect.location
    assert "evil" not in open_redirect.location


async def test_dev_visibility(world: World) -> None:
    gate = world.gate
    world.directory.add_dev(world.sandbox, "web", 5173, "members")
    host = f"dev-web-{world.sandbox}.atelier.test"
    _, member = await world.auth.create_token(world.member, "cli")
    _, owner = await world.auth.create_token(world.owner, "cli")
    assert (await gate.authorize(world.request(host))).status == 401
    assert (
        await gate.authorize(world.request(host, authorization=f"Bearer {member}"))
    ).status == 200
    await world.directory.set_dev_visibility(world.sandbox, "web", "private")
    assert (
        await gate.authorize(world.request(host, authorization=f"Bearer {member}"))
    ).status == 404
    assert (
        await gate.authorize(world.request(host, authorization=f"Bearer {owner}"))
    ).status == 200
    await world.directory.set_dev_visibility(world.sandbox, "web", "public")
    assert (await gate.authorize(world.request(host))).status == 200
    unknown_dev = f"dev-api-{world.sandbox}.atelier.test"
    assert (await gate.authorize(world.request(unknown_dev))).status == 404


async def test_ask(world: World) -> None:
    gate = world.gate
    world.directory.add_dev(world.sandbox, "web", 5173)
    assert await gate.ask(SECRET, "atelier.atelier.test")
    assert await gate.ask(SECRET, world.host())
    assert await gate.ask(SECRET, world.host("browser"))
    assert await gate.ask(SECRET, f"dev-web-{world.sandbox}.atelier.test")
    assert not await gate.ask(SECRET, f"dev-api-{world.sandbox}.atelier.test")
    assert not await gate.ask(SECRET, f"sandbox-{new_id()}.atelier.test")
    assert not await gate.ask(SECRET, "evil.example")
    assert not await gate.ask(SECRET, None)


async def test_cors_preflight_between_hosts_of_one_sandbox(world: World) -> None:
    gate = world.gate
    world.directory.add_dev(world.sandbox, "api", 8000)
    api = f"dev-api-{world.sandbox}.atelier.test"
    preflight = {
        "X-Atelier-Method": "OPTIONS",
        "access-control-request-method": "POST",
        "origin": f"https://dev-web-{world.sandbox}.atelier.test:8443",
    }
    assert (await gate.authorize(world.request(api, **preflight))).status == 200
    foreign = {**preflight, "origin": f"https://dev-web-{new_id()}.atelier.test"}
    assert (await gate.authorize(world.request(api, **foreign))).status == 401
    evil = {**preflight, "origin": "https://evil.example"}
    assert (await gate.authorize(world.request(api, **evil))).status == 401
    not_preflight = {k: v for k, v in preflight.items() if k != "access-control-request-method"}
    assert (await gate.authorize(world.request(api, **not_preflight))).status == 401
