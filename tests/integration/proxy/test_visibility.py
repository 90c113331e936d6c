"""Dev URL visibility through the real Caddy: public opt-in, revocation, private."""

from __future__ import annotations

from atelier.core.auth import Principal
from atelier.runtime.host.names import new_id
from tests.integration.proxy.harness import Recorder, Stack, retry_tls


async def test_public_dev_url_and_back(stack: Stack, recorder: Recorder) -> None:
    auth = stack.manager.auth
    owner = await auth.create_user("owner")
    member = await auth.create_user("member")
    sid = new_id()
    stack.directory.add(sid, owner.id, (member.id,))
    stack.directory.add_dev(sid, "web", 5173, "members", endpoint=recorder.endpoint)
    url = await stack.proxy.dev_started(sid, "web", recorder.endpoint)
    assert url == stack.url(f"dev-web-{sid}.atelier.test")
    assert url is not None
    _, owner_token = await auth.create_token(owner.id, "cli")
    _, member_token = await auth.create_token(member.id, "cli")
    owner_principal = Principal(owner.id, owner.username, owner.role)

    async with await stack.client() as client:
        assert (await retry_tls(lambda: client.get(url))).status_code == 401

        await stack.proxy.set_visibility(owner_principal, sid, "web", "public")
        public = await client.get(url + "api?q=1")
        assert public.status_code == 200
        assert public.json()["path"] == "/api?q=1"

        # Through the API on the dashboard host, as the owner would from the dashboard.
        api = stack.url(stack.dashboard, f"/api/sandboxes/{sid}/dev/web/visibility")
        owner_auth = {"Authorization": f"Bearer {owner_token}"}
        member_auth = {"Authorization": f"Bearer {member_token}"}
        changed = await retry_tls(
            lambda: client.put(api, json={"visibility": "members"}, headers=owner_auth)
        )
        assert changed.status_code == 200, changed.text
        assert changed.json() == {
            "sandbox_id": sid,
            "name": "web",
            "port": 5173,
            "visibility": "members",
            "url": url,
        }
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=member_auth)).status_code == 200

        refused = await client.put(api, json={"visibility": "public"}, headers=member_auth)
        assert refused.status_code == 403
        bad = await client.put(api, json={"visibility": "world"}, headers=owner_auth)
        assert bad.status_code == 400

        await client.put(api, json={"visibility": "private"}, headers=owner_auth)
        assert (await client.get(url, headers=member_auth)).status_code == 404
        assert (await client.get(url, headers=owner_auth)).status_code == 200

        await stack.proxy.dev_stopped(sid, "web")
        assert (await client.get(url, headers=owner_auth)).status_code == 404
    # Only the anonymous public request, the member and the owner reached the dev server.
    assert [seen["path"] for seen in recorder.seen] == ["/api?q=1", "/", "/"]
