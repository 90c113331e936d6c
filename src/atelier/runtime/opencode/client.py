"""`OpencodeClient`: the HTTP client for one OpenCode server (`opencode serve`).

Every request has a timeout. OpenCode may never answer the first request it gets after
starting, while answering any later one at once, so `wait_ready()` probes with a short
timeout and retries, and idempotent reads are retried once after a timeout. HTTP Basic
auth uses the user `opencode` and the sandbox's own password. The event stream is
`/global/event`, which carries the events of every directory (instance).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from atelier.runtime.opencode.base import PermissionReply, Prompt
from atelier.runtime.opencode.errors import (
    OpencodeError,
    OpencodeGone,
    OpencodeRejected,
    OpencodeUnavailable,
)
from atelier.runtime.opencode.models import (
    Health,
    MessageInfo,
    OpencodeEvent,
    Pending,
    PermissionRequest,
    QuestionRequest,
    Session,
    SessionStatus,
    Todo,
)
from atelier.runtime.opencode.sse import sse_data

log = logging.getLogger(__name__)
USER = "opencode"
STREAM_IDLE_S = 90.0  # OpenCode sends heartbeats; a silent stream this long is dead


class OpencodeClient:
    """Calls one OpenCode server; implements `OpencodeApi`."""

    def __init__(
        self,
        base_url: str,
        *,
        password: str | None = None,
        uds: str | None = None,
        timeout: float = 15.0,
        probe_timeout: float = 2.0,
        name: str = "opencode",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        if transport is None and uds is not None:
            transport = httpx.AsyncHTTPTransport(uds=uds)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=httpx.BasicAuth(USER, password) if password else None,
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            transport=transport,
            headers={"accept": "application/json"},
        )

    # plumbing ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
        retry: bool = False,
    ) -> Any:
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                response = await self._http.request(
                    method,
                    path,
                    params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                    json=json_body,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException as exc:
                if attempt + 1 < attempts:
                    continue
                raise OpencodeUnavailable(
                    f"{self.name}: {method} {path} got no answer in time",
                    hint="OpenCode may still be starting",
                ) from exc
            except httpx.HTTPError as exc:
                raise OpencodeUnavailable(f"{self.name}: {method} {path} failed: {exc}") from exc
            return self._decode(method, path, response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code == 404:
            raise OpencodeGone(f"{self.name}: {method} {path}: not found (404)")
        if response.status_code == 401:
            raise OpencodeRejected(
                f"{self.name}: OpenCode refused the password (401)",
                hint="the sandbox's OpenCode password file and the manager disagree",
            )
        if 400 <= response.status_code < 500:
            raise OpencodeRejected(
                f"{self.name}: {method} {path} was refused ({response.status_code}):"
                f" {response.text[:300]}"
            )
        if response.status_code >= 500:
            raise OpencodeError(
                f"{self.name}: {method} {path} failed ({response.status_code}):"
                f" {response.text[:300]}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # readiness -----------------------------------------------------------------------

    async def health(self) -> Health:
        data = await self._request("GET", "/global/health", timeout=self.probe_timeout, retry=True)
        return Health.parse(data)

    async def wait_ready(self, deadline: float) -> Health:
        """Probe until OpenCode answers healthy or `deadline` (monotonic) passes."""
        last: OpencodeError | None = None
        while True:
            try:
                health = await self.health()
                if health.healthy:
                    return health
            except OpencodeError as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise OpencodeUnavailable(
                    f"{self.name}: OpenCode did not become ready in time"
                    + (f" ({last.message})" if last else ""),
                    hint="check the opencode service log in the sandbox",
                )
            await asyncio.sleep(0.3)

    # sessions ------------------------------------------------------------------------

    async def sessions(self) -> list[Session]:
        data = await self._request("GET", "/session", retry=True)
        return [Session.parse(s) for s in data or () if isinstance(s, dict)]

    async def statuses(self, directory: str) -> dict[str, SessionStatus]:
        data = await self._request(
            "GET", "/session/status", params={"directory": directory}, retry=True
        )
        items = data.items() if isinstance(data, dict) else ()
        return {k: SessionStatus.parse(v) for k, v in items}

    async def todos(self, session_id: str, directory: str) -> list[Todo]:
        data = await self._request(
            "GET", f"/session/{session_id}/todo", params={"directory": directory}, retry=True
        )
        return [Todo.parse(t) for t in data or () if isinstance(t, dict)]

    async def messages(self, session_id: str, directory: str, limit: int) -> list[MessageInfo]:
        data = await self._request(
            "GET",
            f"/session/{session_id}/message",
            params={"directory": directory, "limit": limit},
            retry=True,
        )
        return [MessageInfo.parse(m) for m in data or () if isinstance(m, dict)]

    async def create_session(
        self, title: str, directory: str, parent_id: str | None = None
    ) -> Session:
        body: dict[str, Any] = {"title": title}
        if parent_id:
            body["parentID"] = parent_id
        data = await self._request(
            "POST", "/session", params={"directory": directory}, json_body=body
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise OpencodeError(f"{self.name}: POST /session answered without a session id")
        return Session.parse(data)

    async def prompt(self, session_id: str, prompt: Prompt, directory: str) -> None:
        await self._request(
            "POST",
            f"/session/{session_id}/prompt_async",
            params={"directory": directory},
            json_body=prompt.body(),
        )

    async def abort(self, session_id: str, directory: str) -> None:
        await self._request("POST", f"/session/{session_id}/abort", params={"directory": directory})

    # attention -----------------------------------------------------------------------

    async def pending(self, directory: str) -> Pending:
        params = {"directory": directory}
        permissions = await self._request("GET", "/permission", params=params, retry=True)
        questions = await self._request("GET", "/question", params=params, retry=True)
        return Pending(
            tuple(
                PermissionRequest.parse(p, directory)
                for p in permissions or ()
                if isinstance(p, dict)
            ),
            tuple(
                QuestionRequest.parse(q, directory) for q in questions or () if isinstance(q, dict)
            ),
        )

    async def answer_permission(
        self, request_id: str, reply: PermissionReply, directory: str, message: str | None = None
    ) -> None:
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        await self._request(
            "POST",
            f"/permission/{request_id}/reply",
            params={"directory": directory},
            json_body=body,
        )

    async def answer_question(
        self, request_id: str, answers: Sequence[Sequence[str]] | None, directory: str
    ) -> None:
        params = {"directory": directory}
        if answers is None:
            await self._request("POST", f"/question/{request_id}/reject", params=params)
        else:
            body = {"answers": [list(a) for a in answers]}
            await self._request(
                "POST", f"/question/{request_id}/reply", params=params, json_body=body
            )

    # events --------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[OpencodeEvent]:
        timeout = httpx.Timeout(STREAM_IDLE_S, connect=min(5.0, self.timeout))
        try:
            async with self._http.stream(
                "GET", "/global/event", timeout=timeout, headers={"accept": "text/event-stream"}
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._decode("GET", "/global/event", response)
                async for data in sse_data(response.aiter_lines()):
                    try:
                        event = OpencodeEvent.parse(json.loads(data))
                    except ValueError:
                        log.debug("%s: ignoring a non-JSON event: %.80s", self.name, data)
                        continue
                    if event is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise OpencodeUnavailable(f"{self.name}: the event stream failed: {exc}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()
