"""A scripted OpenAI-compatible model server for OpenCode tests (loopback only, no internet).

OpenCode is pointed at it as an `@ai-sdk/openai-compatible` provider. It answers
`GET /v1/models` and `POST /v1/chat/completions` (streamed as SSE chunks, or as one JSON
body). Which answer a completion gets is decided by a *script*: the first user message of
the conversation names it with a `[script:<name>]` marker, and the step is the number of
assistant messages already in the conversation, so the answer is a pure function of the
request (OpenCode may repeat or retry a call and gets the same answer). A step is a `Turn`:
text, tool calls (which make OpenCode write files, update todos, run shell commands or ask
questions) and an optional `Gate` that holds the answer until the test opens it. Requests
without tools (title and summary generation) get a short title. Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_IDS = ("scripted", "scripted-small")
_MARKER = re.compile(r"\[script:([a-z0-9_-]+)\]")


class Gate:
    """Holds a scripted answer until the test calls `open()`; tells when a request waits."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.reached = threading.Event()

    def open(self) -> None:
        self._open.set()

    def wait(self, timeout: float) -> bool:
        self.reached.set()
        return self._open.wait(timeout)


@dataclass(frozen=True)
class ToolCall:
    """A function call the model makes; `arguments` is OpenCode's tool input."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One assistant answer."""

    text: str = ""
    tools: tuple[ToolCall, ...] = ()
    gate: Gate | None = None


@dataclass
class Recorded:
    """A request the server received."""

    path: str
    body: dict[str, Any]
    script: str | None
    step: int


def write_file(path: str, content: str) -> ToolCall:
    """OpenCode's `write` tool: create or replace a file."""
    return ToolCall("write", {"filePath": path, "content": content})


def todos(*items: tuple[str, str]) -> ToolCall:
    """OpenCode's `todowrite` tool: the whole todo list as (content, status) pairs."""
    return ToolCall(
        "todowrite",
        {
            "todos": [
                {"id": str(i + 1), "content": content, "status": status, "priority": "medium"}
                for i, (content, status) in enumerate(items)
            ]
        },
    )


def bash(command: str, description: str = "run a command") -> ToolCall:
    """OpenCode's `bash` tool."""
    return ToolCall("bash", {"command": command, "description": description})


def question(text: str, header: str, *options: str) -> ToolCall:
    """OpenCode's `question` tool: one question with options."""
    return ToolCall(
        "question",
        {
            "questions": [
                {
                    "question": text,
                    "header": header,
                    "options": [{"label": o, "description": f"pick {o}"} for o in options],
                }
            ]
        },
    )


@dataclass
class ScriptedModel:
    """The scripts and the requests seen; shared with the HTTP handler threads."""

    scripts: dict[str, list[Turn]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    final_text: str = "All done."
    gate_timeout_s: float = 300.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: dict[str, Any]) -> Turn:
        messages = body.get("messages") or []
        script = _script_of(messages)
        step = sum(1 for m in messages if m.get("role") == "assistant")
        with self._lock:
            self.requests.append(Recorded(path, body, script, step))
        if not body.get("tools"):
            return Turn(text="Scripted task")
        turns = self.scripts.get(script or "", [])
        return turns[step] if step < len(turns) else Turn(text=self.final_text)

    def completions(self, script: str) -> list[Recorded]:
        """Tool-carrying requests of one script (title requests excluded)."""
        with self._lock:
            return [r for r in self.requests if r.script == script and r.body.get("tools")]

    def prompt_texts(self, script: str) -> list[str]:
        """The user messages the model saw for a script."""
        found = []
        for record in self.completions(script):
            for message in record.body.get("messages") or []:
                if message.get("role") == "user":
                    found.append(_text_of(message.get("content")))
        return found


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _script_of(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "user":
            found = _MARKER.search(_text_of(message.get("content")))
            if found:
                return found.group(1)
    return None


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL_IDS[0],
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def stream_chunks(turn: Turn) -> Iterator[dict[str, Any]]:
    """The SSE chunks of one streamed answer (OpenAI's chat.completion.chunk shape)."""
    yield _chunk({"role": "assistant", "content": ""})
    for word in turn.text.split(" ") if turn.text else []:
        yield _chunk({"content": word + " "})
    for index, call in enumerate(turn.tools):
        yield _chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": f"call_{index}_{call.name}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                ]
            }
        )
    yield _chunk({}, "tool_calls" if turn.tools else "stop")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    yield {**_chunk({}), "choices": [], "usage": usage}


def full_answer(turn: Turn) -> dict[str, Any]:
    """A non-streamed completion."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.text}
    if turn.tools:
        message["tool_calls"] = [
            {
                "id": f"call_{i}_{c.name}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for i, c in enumerate(turn.tools)
        ]
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_IDS[0],
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if turn.tools else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the requests are recorded; stderr stays quiet

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "tests"} for m in MODEL_IDS]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        model = self.server.model
        turn = model.answer(self.path, body)
        if turn.gate is not None and not turn.gate.wait(model.gate_timeout_s):
            self._json(503, {"error": {"message": "gate never opened"}})
            return
        if body.get("stream"):
            self._stream(turn)
        else:
            self._json(200, full_answer(turn))

    def _stream(self, turn: Turn) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for chunk in stream_chunks(turn):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    model: ScriptedModel


@contextmanager
def serve_model(
    model: ScriptedModel, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[str, int]]:
    """Serve `model` on `host:port` (0: any free port) until the block ends."""
    server = _Server((host, port), _Handler)
    server.model = model
    thread = threading.Thread(target=server.serve_forever, name="scripted-llm", daemon=True)
    thread.start()
    try:
        yield host, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def provider_config(base_url: str) -> dict[str, Any]:
    """The opencode.json fragment that makes OpenCode use this server and nothing else."""
    models = {m: {"name": m, "limit": {"context": 32000, "output": 4096}} for m in MODEL_IDS}
    return {
        "enabled_providers": ["scripted"],
        "provider": {
            "scripted": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Scripted test model",
                "options": {"baseURL": base_url, "apiKey": "sk-scripted"},
                "models": models,
            }
        },
        "model": f"scripted/{MODEL_IDS[0]}",
        "small_model": f"scripted/{MODEL_IDS[1]}",
        "autoupdate": False,
        "share": "disabled",
    }
