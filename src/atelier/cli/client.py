"""The CLI's HTTP client for a manager's API, shared by every command that talks to one.

`connect()` builds an `ApiClient` from `atelier.config.client_settings()` ($ATELIER_URL and
$ATELIER_TOKEN, else ~/.config/atelier/client.json, else http://127.0.0.1:4000). Error
envelopes (`{"error", "message", "hint", "field"}`) become the matching AtelierError, so
`atelier.cli.app` prints them like local errors; an unreachable manager becomes Unavailable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from atelier import __version__
from atelier.config import ClientSettings, client_settings
from atelier.errors import (
    AtelierError,
    Conflict,
    Forbidden,
    LimitExceeded,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationError,
)

_BY_STATUS: dict[int, type[AtelierError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: LimitExceeded,
    503: Unavailable,
}
_TOKEN_HINT = (
    "set ATELIER_TOKEN or ~/.config/atelier/client.json"
    " (create a token with `atelier token create`)"
)


class RemoteError(AtelierError):
    """The manager answered with an error that has no more specific local class."""

    code = "remote_error"
    status = 502


class ApiClient:
    """A small synchronous client: JSON in, JSON out, errors as AtelierError."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"atelier-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: ClientSettings, **kwargs: Any) -> ApiClient:
        """A client for the manager `settings` point at."""
        token = settings.token.get_secret_value() if settings.token else None
        return cls(settings.url, token, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request; the decoded JSON body (None for an empty body).

        Raises the AtelierError matching the error envelope, or Unavailable when the
        manager cannot be reached.
        """
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise error_from(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{method} {path}: the manager answered with something that is not JSON",
                hint=f"is {self.url} really an Atelier manager?",
            ) from exc

    def get_status(self, path: str) -> tuple[int, Any]:
        """GET `path` and return (HTTP status, JSON body) without raising on 4xx/5xx."""
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            return response.status_code, response.json()
        except ValueError:
            raise error_from(response) from None

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` with query parameters (None and empty lists are left out)."""
        given = {k: v for k, v in params.items() if v is not None and v != []}
        return self.request("GET", path, params=given or None)

    def post(self, path: str, json: Any = None) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any = None) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, json=json)

    def patch(self, path: str, json: Any = None) -> Any:
        """PATCH with a JSON body."""
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        """DELETE `path`."""
        return self.request("DELETE", path)

    @contextmanager
    def stream(
        self, method: str, path: str, *, json: Any = None, timeout: float | None = None
    ) -> Iterator[httpx.Response]:
        """A streaming response (logs, server-sent events); errors are raised on open."""
        try:
            with self._http.stream(
                method, path, json=json, timeout=httpx.Timeout(timeout, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                yield response
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _unreachable(self, exc: httpx.HTTPError) -> Unavailable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else str(exc) or "failed"
        return Unavailable(
            f"cannot reach the manager at {self.url}: {kind}",
            hint="is it running? point ATELIER_URL (or ~/.config/atelier/client.json) at it",
        )


def error_from(response: httpx.Response) -> AtelierError:
    """The AtelierError for an error response, from its envelope when there is one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    request = response.request
    message = body.get("message") or (
        f"{request.method} {request.url.path} failed with HTTP {response.status_code}"
    )
    cls = _BY_STATUS.get(response.status_code, RemoteError)
    hint = body.get("hint")
    if response.status_code == 401 and not hint:
        hint = _TOKEN_HINT
    code = body.get("error") if isinstance(body.get("error"), str) else None
    return cls(str(message), hint=hint, field=body.get("field"), code=code)


def connect(**kwargs: Any) -> ApiClient:
    """A client for the configured manager (environment, then client.json, then defaults)."""
    return ApiClient.from_settings(client_settings(), **kwargs)
