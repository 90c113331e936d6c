"""`/api/ssh-keys` and `/api/ssh/gateway` in-process: per caller, errors as envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncssh
import httpx
import pytest

from atelier.api.app import create_app
from atelier.config import AtelierConfig
from atelier.core.manager import Manager


@dataclass
class Api:
    http: httpx.AsyncClient
    alice: dict[str, str]
    bob: dict[str, str]


def public_key(comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return str(key.export_public_key().decode())


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    manager = Manager(
        AtelierConfig(
            paths={"data_dir": tmp_path / "d", "run_dir": tmp_path / "r", "cache_dir": tmp_path},
            ssh={"public_host": "ssh.example.test", "port": 2200},
        )
    )
    app = create_app(manager, manage_lifecycle=False)
    try:
        await manager.db.migrate()
        headers = {}
        for name in ("alice", "bob"):
            user = await manager.auth.create_user(name)
            _view, raw = await manager.auth.create_token(user.id, "cli")
            headers[name] = {"Authorization": f"Bearer {raw}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://manager") as http:
            yield Api(http, headers["alice"], headers["bob"])
    finally:
        await manager.stop()


async def test_add_list_delete_per_caller(api: Api) -> None:
    added = await api.http.post(
        "/api/ssh-keys",
        json={"public_key": public_key(), "expires_at": "2999-01-01T00:00:00Z"},
        headers=api.alice,
    )
    assert added.status_code == 201, added.text
    key = added.json()
    assert key["name"] == "me@laptop" and key["fingerprint"].startswith("SHA256:")
    assert key["expires_at"].startswith("2999-01-01") and key["expired"] is False
    assert "private" not in str(key).lower()
    mine = await api.http.get("/api/ssh-keys", headers=api.alice)
    assert [k["id"] for k in mine.json()] == [key["id"]]
    assert (await api.http.get("/api/ssh-keys", headers=api.bob)).json() == []
    theirs = await api.http.delete(f"/api/ssh-keys/{key['id']}", headers=api.bob)
    assert theirs.status_code == 404
    gone = await api.http.delete(f"/api/ssh-keys/{key['name']}", headers=api.alice)
    assert gone.status_code == 204
    assert (await api.http.get("/api/ssh-keys", headers=api.alice)).json() == []
    for _ in range(8):  # fingerprints often hold '/', which must survive the URL path
        again = await api.http.post(
            "/api/ssh-keys", json={"public_key": public_key()}, headers=api.alice
        )
        ref = quote(again.json()["fingerprint"], safe="")
        removed = await api.http.delete(f"/api/ssh-keys/{ref}", headers=api.alice)
        assert removed.status_code == 204, removed.text


async def test_errors_use_the_envelope(api: Api) -> None:
    bad = await api.http.post(
        "/api/ssh-keys", json={"public_key": "ssh-ed25519 nope"}, headers=api.alice
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"] == "ssh_key_invalid" and body["field"] == "public_key"
    assert "hint" in body
    text = public_key()
    first = await api.http.post("/api/ssh-keys", json={"public_key": text}, headers=api.alice)
    assert first.status_code == 201
    dup = await api.http.post("/api/ssh-keys", json={"public_key": text}, headers=api.bob)
    assert dup.status_code == 409 and dup.json()["field"] == "public_key"
    past = await api.http.post(
        "/api/ssh-keys",
        json={"public_key": public_key(), "expires_at": "2001-01-01T00:00:00Z"},
        headers=api.alice,
    )
    assert past.status_code == 400 and past.json()["field"] == "expires_at"
    extra = await api.http.post(
        "/api/ssh-keys", json={"public_key": text, "owner": "x"}, headers=api.alice
    )
    assert extra.status_code == 400 and extra.json()["field"] == "owner"
    assert (await api.http.get("/api/ssh-keys")).status_code == 401


async def test_gateway_info(api: Api) -> None:
    info = (await api.http.get("/api/ssh/gateway", headers=api.alice)).json()
    assert info["host"] == "ssh.example.test" and info["port"] == 2200
    assert info["host_key"].startswith("ssh-ed25519 ") and info["fingerprint"].startswith("SHA256")
