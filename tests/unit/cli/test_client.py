"""The CLI's API client: settings precedence and error envelopes as AtelierErrors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from atelier.cli.client import ApiClient, RemoteError
from atelier.config import DEFAULT_MANAGER_URL, client_settings
from atelier.errors import ConfigError, Conflict, NotFound, Unauthorized, Unavailable


def client(handler: httpx.MockTransport) -> ApiClient:
    return ApiClient("http://manager.test/", "atl_secret", transport=handler)


def test_json_in_and_out_with_the_token() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"echo": json.loads(request.content or b"null")})

    with client(httpx.MockTransport(handle)) as api:
        assert api.post("/api/x", {"a": 1}) == {"echo": {"a": 1}}
        assert api.get("/api/x", limit=3) == {"echo": None}
        assert api.delete("/api/x/1") is None
    assert seen[0].headers["authorization"] == "Bearer atl_secret"
    assert seen[1].url.params["limit"] == "3"
    assert api.url == "http://manager.test"


@pytest.mark.parametrize(
    ("status", "cls"), [(401, Unauthorized), (404, NotFound), (409, Conflict), (502, RemoteError)]
)
def test_envelopes_become_errors(status: int, cls: type[Exception]) -> None:
    body = {"error": "ssh_key_invalid", "message": "bad key", "hint": "fix it", "field": "k"}
    api = client(httpx.MockTransport(lambda _r: httpx.Response(status, json=body)))
    with api, pytest.raises(cls) as info:
        api.get("/api/x")
    error = info.value
    assert getattr(error, "code") == "ssh_key_invalid"  # noqa: B009
    assert getattr(error, "message") == "bad key" and getattr(error, "hint") == "fix it"  # noqa: B009


def test_non_json_errors_and_401_hints() -> None:
    api = client(httpx.MockTransport(lambda _r: httpx.Response(500, text="boom")))
    with api, pytest.raises(RemoteError, match="GET /api/x failed with HTTP 500"):
        api.get("/api/x")
    bare = httpx.MockTransport(lambda _r: httpx.Response(401, json={"message": "no"}))
    with client(bare) as api, pytest.raises(Unauthorized) as info:
        api.get("/api/x")
    assert info.value.hint is not None and "ATELIER_TOKEN" in info.value.hint


def test_unreachable_manager() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client(httpx.MockTransport(refuse)) as api, pytest.raises(Unavailable) as info:
        api.get("/api/x")
    assert "http://manager.test" in info.value.message and info.value.hint


def test_settings_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATELIER_URL", raising=False)
    monkeypatch.delenv("ATELIER_TOKEN", raising=False)
    missing = client_settings(tmp_path / "none.json")
    assert missing.url == DEFAULT_MANAGER_URL and missing.token is None
    path = tmp_path / "client.json"
    path.write_text(json.dumps({"url": "https://a.test", "token": "atl_file"}))
    from_file = client_settings(path)
    assert from_file.url == "https://a.test" and from_file.token is not None
    monkeypatch.setenv("ATELIER_TOKEN", "atl_env")
    mixed = client_settings(path)
    assert mixed.url == "https://a.test"
    assert mixed.token is not None and mixed.token.get_secret_value() == "atl_env"
    assert "$ATELIER_TOKEN" in mixed.source
    path.write_text(json.dumps({"url": "x", "colour": "red"}))
    with pytest.raises(ConfigError, match="colour"):
        client_settings(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match=r"client\.json"):
        client_settings(path)


def test_unset_query_parameters_are_left_out() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    with client(httpx.MockTransport(handle)) as api:
        api.get("/api/sandboxes", status=[], name=None, includeDestroyed="false")
        api.get("/api/sandboxes", status=["running", "paused"])
    assert dict(seen[0].url.params) == {"includeDestroyed": "false"}
    assert seen[1].url.params.get_list("status") == ["running", "paused"]
