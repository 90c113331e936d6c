"""Using a running sandbox: exec, files, metrics, logs, and the terminal WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect, status
from fastapi.responses import StreamingResponse
from sse_starlette.sse import EventSourceResponse

from atelier.api.deps import (
    WS_PROTOCOL_PREFIX,
    CurrentUser,
    ManagerDep,
    get_manager,
    resolve_principal,
)
from atelier.api.schemas.sandboxes import ExecRequest, ExecResponse, FileEntry
from atelier.errors import AtelierError

router = APIRouter(prefix="/api/sandboxes/{sandbox_id}", tags=["guest"])

MAX_FILE_BYTES = 64 << 20


@router.post("/exec", response_model=None)
async def exec_command(
    sandbox_id: str, body: ExecRequest, user: CurrentUser, manager: ManagerDep
) -> ExecResponse | StreamingResponse:
    """Run a command; with `stream: true` output arrives as NDJSON lines while it runs."""
    client = await manager.sandboxes.guest(user, sandbox_id)
    kwargs: dict[str, Any] = {
        "shell": body.command,
        "cwd": body.cwd,
        "env": body.env,
        "user": body.user,
        "timeout": body.timeout_s,
        "keep_background": body.keep_background,
    }
    stdin = body.stdin.encode() if body.stdin is not None else None
    if not body.stream:
        done = await client.exec(body.argv, input=stdin, **kwargs)
        return ExecResponse(
            exit_code=done.exit_code,
            signal=done.signal,
            timed_out=done.timed_out,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=done.stderr.decode("utf-8", "replace"),
            duration_s=done.duration_s,
        )
    process = await client.exec_stream(body.argv, stdin=stdin is not None, **kwargs)
    if stdin is not None:
        await process.write(stdin)
        process.close_stdin()

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for name, data in process:
                yield _line({"stream": name, "data": data.decode("utf-8", "replace")})
            result = await process.wait()
            yield _line(
                {
                    "exitCode": result.exit_code,
                    "signal": result.signal,
                    "timedOut": result.timed_out,
                }
            )
        except BaseException:
            # The client went away: abandon the command (the agent kills its tree).
            process.cancel()
            raise

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data) + "\n").encode()


@router.get("/files", response_class=Response)
async def read_file(
    sandbox_id: str, user: CurrentUser, manager: ManagerDep, path: str = Query(min_length=1)
) -> Response:
    """A file's bytes (up to 64 MiB)."""
    client = await manager.sandboxes.guest(user, sandbox_id)
    data = await client.read_file(path, max_size=MAX_FILE_BYTES)
    return Response(data, media_type="application/octet-stream")


@router.put("/files", status_code=status.HTTP_204_NO_CONTENT)
async def write_file(
    sandbox_id: str,
    request: Request,
    user: CurrentUser,
    manager: ManagerDep,
    path: str = Query(min_length=1),
    mode: str = Query("644", pattern=r"^[0-7]{3,4}$"),
    owner: str | None = Query(None),
) -> Response:
    """Write the request body to a file (parents created, owned like the file)."""
    client = await manager.sandboxes.guest(user, sandbox_id)
    data = await request.body()
    if len(data) > MAX_FILE_BYTES:
        raise AtelierError("file is larger than 64 MiB", code="too_large")
    await client.write_file(path, data, mode=int(mode, 8), owner=owner)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/files/list")
async def list_files(
    sandbox_id: str, user: CurrentUser, manager: ManagerDep, path: str = Query(min_length=1)
) -> list[FileEntry]:
    """Entries of a directory."""
    client = await manager.sandboxes.guest(user, sandbox_id)
    entries = await client.list_dir(path)
    return [FileEntry(**_entry(e)) for e in entries]


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "name": entry.name,
        "type": entry.type,
        "size": entry.size,
        "mode": entry.mode,
        "mtime": entry.mtime,
    }


@router.get("/metrics")
async def metrics(sandbox_id: str, user: CurrentUser, manager: ManagerDep) -> dict[str, Any]:
    """CPU, memory, disk and load inside the guest."""
    client = await manager.sandboxes.guest(user, sandbox_id)
    found = await client.metrics()
    return {
        "cpuPercent": found.cpu_percent,
        "cpuCount": found.cpu_count,
        "load": list(found.load),
        "memory": {"total": found.memory_total, "available": found.memory_available},
        "disk": {"total": found.disk_total, "used": found.disk_used, "free": found.disk_free},
        "uptimeS": found.uptime_s,
    }


@router.get("/logs", response_model=None)
async def logs(
    sandbox_id: str,
    user: CurrentUser,
    manager: ManagerDep,
    source: str = Query("console", pattern="^(console|agent)$"),
    tail: int = Query(200, ge=1, le=10000),
    follow: bool = Query(False),
) -> dict[str, Any] | EventSourceResponse:
    """The console (kernel + init) or agent log: the last lines, or followed over SSE."""
    service = manager.sandboxes
    if source == "agent":
        client = await service.guest(user, sandbox_id)
        data = await client.read_file("/var/log/atelier/agent.log", max_size=MAX_FILE_BYTES)
        lines = data.decode("utf-8", "replace").splitlines()[-tail:]
        return {"source": source, "lines": lines}
    lines = await service.console_log(user, sandbox_id, tail)
    if not follow:
        return {"source": source, "lines": lines}

    async def events() -> AsyncIterator[dict[str, str]]:
        for line in lines:
            yield {"event": "line", "data": line}
        async for line in service.follow_console(user, sandbox_id):
            yield {"event": "line", "data": line}

    return EventSourceResponse(events())


@router.websocket("/terminal")
async def terminal(websocket: WebSocket, sandbox_id: str) -> None:
    """A PTY in the guest over a WebSocket.

    Binary frames carry terminal bytes both ways; text frames carry JSON control messages:
    `{"type": "resize", "cols": C, "rows": R}` from the client, `{"type": "session", "id": ...}`
    and `{"type": "exit", ...}` from the server. `?session=<id>` re-attaches to a live
    session (with its scrollback); sessions outlive the WebSocket.
    """
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    try:
        user = await resolve_principal(websocket)
        manager = get_manager(websocket)
        client = await manager.sandboxes.guest(user, sandbox_id)
    except AtelierError as exc:
        await websocket.close(code=4000 + exc.status % 1000, reason=exc.message[:120])
        return
    chosen = next((p for p in protocols if p.startswith(WS_PROTOCOL_PREFIX)), None)
    await websocket.accept(subprotocol=chosen)
    params = websocket.query_params
    cols, rows = int(params.get("cols", 80)), int(params.get("rows", 24))
    session = params.get("session")
    try:
        if session:
            pty = await client.pty_attach(session)
            pty.resize(cols, rows)
        else:
            pty = await client.pty_open(
                user=manager.sandboxes.terminal_user, cols=cols, rows=rows, term="xterm-256color"
            )
    except AtelierError as exc:
        await websocket.close(code=4000 + exc.status % 1000, reason=exc.message[:120])
        return
    await websocket.send_text(json.dumps({"type": "session", "id": pty.session}))

    async def pump_out() -> None:
        async for chunk in pty:
            await websocket.send_bytes(chunk)
        await websocket.send_text(json.dumps({"type": "exit", **(pty.exit or {})}))
        await websocket.close()

    output = asyncio.create_task(pump_out())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await pty.write(message["bytes"])
            elif message.get("text") is not None:
                control = json.loads(message["text"])
                if control.get("type") == "resize":
                    pty.resize(int(control["cols"]), int(control["rows"]))
                elif control.get("type") == "input":
                    await pty.write(str(control.get("data", "")).encode())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        output.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await output
        if pty.attached:
            pty.detach()
