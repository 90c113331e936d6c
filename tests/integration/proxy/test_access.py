"""Access control through the real Caddy: the handshake, credential stripping, refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from atelier.core.auth import UserView
from atelier.runtime.host.names import new_id
from tests.integration.proxy.harness import Recorder, Stack, retry_tls

BROWSER = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> value of every Set-Cookie of a response."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


async def users(stack: Stack) -> tuple[UserView, UserView, UserView]:
    auth = stack.manager.auth
    return (
        await auth.create_user("owner"),
        await auth.create_user("member"),
        await auth.create_user("outsider"),
    )


async def publish(stack: Stack, recorder: Recorder, owner: str, members: tuple[str, ...]) -> str:
    sid = new_id()
    stack.directory.add(sid, owner, members, services={"code": recorder.endpoint})
    urls = await stack.proxy.sandbox_running(sid, {"code": recorder.endpoint})
    assert urls == {"code": stack.url(f"sandbox-{sid}.atelier.test")}
    return f"sandbox-{sid}.atelier.test"


async def browser_login(
    stack: Stack, client: httpx.AsyncClient, host: str, session: str, path: str
) -> str:
    """Run the redirect handshake like a browser; returns the sandbox-host cookie header."""
    first = await retry_tls(lambda: client.get(stack.url(host, path), headers=BROWSER))
    assert first.status_code == 302, first.text
    handoff = first.headers["location"]
    assert handoff.startswith(stack.url(stack.dashboard, "/auth/handoff?"))
    state_cookie = set_cookies(first)
    assert list(state_cookie) == ["__Host-atelier_state"]
    assert "HttpOnly" in first.headers["set-cookie"] and "Secure" in first.headers["set-cookie"]

    second = await retry_tls(
        lambda: client.get(handoff, headers={"Cookie": f"atelier_session={session}"})
    )
    assert second.status_code == 302, second.text
    back = urlsplit(second.headers["location"])
    assert back.netloc == f"{host}:{stack.port}" and back.path == "/__atelier/auth"
    assert parse_qs(back.query)["next"] == [path]

    state = "; ".join(f"{k}={v}" for k, v in state_cookie.items())
    third = await client.get(second.headers["location"], headers={"Cookie": state})
    assert third.status_code == 302, third.text
    assert third.headers["location"] == path
    cookies = set_cookies(third)
    assert cookies["__Host-atelier_state"] == '""' or cookies["__Host-atelier_state"] == ""
    header = next(
        h for h in third.headers.get_list("set-cookie") if h.startswith("__Host-atelier_sbx")
    )
    assert "HttpOnly" in header and "Secure" in header and "samesite=lax" in header.lower()
    assert "domain" not in header.lower()
    return f"__Host-atelier_sbx={cookies['__Host-atelier_sbx']}"


async def test_member_session_reaches_guest_without_atelier_credentials(
    stack: Stack, recorder: Recorder
) -> None:
    owner, member, _ = await users(stack)
    host = await publish(stack, recorder, owner.id, (member.id,))
    _, session = await stack.manager.auth.create_token(member.id, "dashboard", kind="session")
    _, api_token = await stack.manager.auth.create_token(member.id, "cli")
    async with await stack.client() as client:
        host_cookie = await browser_login(stack, client, host, session, "/work/?folder=/w")
        sent_cookie = f"app=1; atelier_session={session}; {host_cookie}; other=2"
        response = await client.post(
            stack.url(host, "/work/?folder=/w"),
            headers={"Cookie": sent_cookie, "Authorization": f"Bearer {api_token}"},
            content=b"payload",
        )
    assert response.status_code == 200, response.text
    assert response.json()["upstream"] == "guest"
    seen = recorder.headers()
    assert seen["cookie"] == ["app=1; other=2"]
    assert "authorization" not in seen
    assert not [k for k in seen if k.startswith("x-atelier")]
    assert recorder.seen[-1]["body"] == "payload"
    assert recorder.seen[-1]["path"] == "/work/?folder=/w"
    assert seen["host"] == [f"{host}:{stack.port}"]
    # The guest's own cookies reach the browser.
    assert "guest_app" in set_cookies(response)


async def test_refusals(stack: Stack, recorder: Recorder) -> None:
    owner, member, outsider = await users(stack)
    host = await publish(stack, recorder, owner.id, (member.id,))
    _, outsider_token = await stack.manager.auth.create_token(outsider.id, "cli")
    _, outsider_session = await stack.manager.auth.create_token(outsider.id, "d", kind="session")
    _, member_session = await stack.manager.auth.create_token(member.id, "d", kind="session")
    async with await stack.client() as client:
        anonymous = await retry_tls(lambda: client.get(stack.url(host, "/")))
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "unauthorized"
        bearer = {"Authorization": f"Bearer {outsider_token}"}
        stranger = await client.get(stack.url(host, "/"), headers=bearer)
        assert stranger.status_code == 404
        assert stranger.json()["error"] == "not_found"
        bad = await client.get(stack.url(host, "/"), headers={"Authorization": "Bearer atl_nope"})
        assert bad.status_code == 401
        # The dashboard session itself is not a credential on sandbox hosts.
        session_only = {"Cookie": f"atelier_session={member_session}"}
        assert (await client.get(stack.url(host, "/"), headers=session_only)).status_code == 401
        # An outsider's dashboard session gets no code for the host.
        first = await client.get(stack.url(host, "/"), headers=BROWSER)
        handoff = first.headers["location"]
        refused = await retry_tls(
            lambda: client.get(handoff, headers={"Cookie": f"atelier_session={outsider_session}"})
        )
        assert refused.status_code == 404
        # A forged host cookie does not pass.
        forged = {"Cookie": "__Host-atelier_sbx=v1.aaaaaaaa.9999999999.bad"}
        assert (await client.get(stack.url(host, "/"), headers=forged)).status_code == 401
    assert recorder.seen == []


async def test_host_cookie_is_bound_to_its_host(stack: Stack, recorder: Recorder) -> None:
    owner, member, _ = await users(stack)
    host_a = await publish(stack, recorder, owner.id, (member.id,))
    host_b = await publish(stack, recorder, owner.id, (member.id,))
    _, session = await stack.manager.auth.create_token(member.id, "d", kind="session")
    async with await stack.client() as client:
        cookie_a = await browser_login(stack, client, host_a, session, "/")
        ok = await client.get(stack.url(host_a, "/"), headers={"Cookie": cookie_a})
        assert ok.status_code == 200
        other = await retry_tls(
            lambda: client.get(stack.url(host_b, "/"), headers={"Cookie": cookie_a})
        )
        assert other.status_code == 401


async def test_stopped_sandbox_answers_404(stack: Stack, recorder: Recorder) -> None:
    owner, _, _ = await users(stack)
    host = await publish(stack, recorder, owner.id, ())
    _, token = await stack.manager.auth.create_token(owner.id, "cli")
    bearer = {"Authorization": f"Bearer {token}"}
    async with await stack.client() as client:
        assert (
            await retry_tls(lambda: client.get(stack.url(host, "/"), headers=bearer))
        ).status_code == 200
        sandbox_id = host.split(".")[0].removeprefix("sandbox-")
        await stack.proxy.sandbox_stopped(sandbox_id)
        stack.directory.remove(sandbox_id)
        gone = await client.get(stack.url(host, "/"), headers=bearer)
    assert gone.status_code == 404
    assert gone.json() == {"error": "not_found", "message": "nothing is published at this address"}
    assert [r.spec.route_id for r in await stack.proxy.driver.routes()] == []  # type: ignore[union-attr]


async def test_dashboard_host_serves_the_manager(stack: Stack) -> None:
    async with await stack.client() as client:
        live = await retry_tls(lambda: client.get(stack.url(stack.dashboard, "/health/live")))
        assert live.status_code == 200 and live.json() == {"status": "ok"}
        health = await client.get(stack.url(stack.dashboard, "/health"))
        assert health.json()["checks"]["proxy"]["ok"] is True
        for path in ("/internal/proxy/authorize", "/internal/proxy/ask?domain=x", "/internal"):
            blocked = await client.get(stack.url(stack.dashboard, path))
            assert blocked.status_code == 404, path
        unknown = await retry_tls(lambda: client.get(stack.url("nothing.atelier.test", "/")))
        assert unknown.status_code == 404
