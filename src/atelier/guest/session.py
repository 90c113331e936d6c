"""One host session on a link: handshake, token check, streams, credit windows and dispatch.

A session starts unauthenticated. HELLO (re)starts it: every stream of the previous session is
detached (exec jobs are killed, PTY sessions keep running) and the agent answers with its
version. Each REQUEST must carry the current token; otherwise it is answered with
`unauthorized` before the operation is even looked up, so it cannot have a side effect.
Operations are functions `op(agent, stream, args)` returning a result map, or None when a
`StreamHandler` attached to the stream will answer later.
"""

from __future__ import annotations

import errno
import os

from atelier.guest import log
from atelier.guest import protocol as p

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.links import Link


class OpError(Exception):
    """An operation failed in a way the host should see (code, message, field, hint)."""

    def __init__(
        self, code: str, message: str, *, field: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return p.error_body(self.code, self.message, field=self.field, hint=self.hint)


_OS_CODES = {
    errno.ENOENT: p.E_NOT_FOUND,
    errno.EEXIST: p.E_EXISTS,
    errno.ENOTDIR: p.E_NOT_A_DIRECTORY,
    errno.EISDIR: p.E_IS_A_DIRECTORY,
    errno.EACCES: p.E_PERMISSION,
    errno.EPERM: p.E_PERMISSION,
    errno.ENOSPC: p.E_NO_SPACE,
    errno.EDQUOT: p.E_NO_SPACE,
    errno.EFBIG: p.E_TOO_LARGE,
    errno.ENOTEMPTY: p.E_CONFLICT,
}


def os_error(exc: OSError, action: str, path: str) -> OpError:
    """An OSError as an OpError naming the action and the path."""
    code = _OS_CODES.get(exc.errno or 0, p.E_IO)
    return OpError(code, f"cannot {action} {path}: {exc.strerror or exc}", field="path")


class StreamHandler:
    """Reacts to what the host sends on a stream; override what you need."""

    def on_data(self, channel: int, data: bytes) -> None:
        """DATA from the host (already counted against the receive window)."""

    def on_eof(self, channel: int) -> None:
        """The host will send no more DATA on `channel`."""

    def on_event(self, message: dict[str, Any]) -> None:
        """A structured message from the host."""

    def on_window(self, channel: int) -> None:
        """The host granted more credit on `channel`."""

    def on_cancel(self, reason: str) -> None:
        """The host cancelled the stream, or its session ended: release everything."""


class Stream:
    """One request's stream: send side credit, receive side window, final response."""

    def __init__(self, session: Session, sid: int, op: str) -> None:
        self.session = session
        self.id = sid
        self.op = op
        self.handler: StreamHandler | None = None
        self.open = True
        self.credit = {p.CH_OUT: p.INITIAL_WINDOW, p.CH_ERR: p.INITIAL_WINDOW}
        self.receivable = {p.CH_IN: p.INITIAL_WINDOW}

    # sending
    def send_data(self, channel: int, data: bytes) -> None:
        """Send DATA; the caller stays within `credit[channel]`."""
        if not self.open:
            return
        self.credit[channel] -= len(data)
        for start in range(0, len(data), p.MAX_DATA_CHUNK):
            chunk = data[start : start + p.MAX_DATA_CHUNK]
            self.session.send(p.encode_frame(p.DATA, self.id, chunk, channel))

    def send_eof(self, channel: int) -> None:
        if self.open:
            self.session.send(p.encode_frame(p.EOF, self.id, b"", channel))

    def send_event(self, message: dict[str, Any]) -> None:
        if self.open:
            self.session.send(p.encode_message(p.EVENT, self.id, message))

    def grant(self, channel: int, increment: int) -> None:
        if self.open and increment > 0:
            self.receivable[channel] = self.receivable.get(channel, 0) + increment
            self.session.send(p.encode_window(self.id, channel, increment))

    def reply(self, result: dict[str, Any]) -> None:
        self._finish({"ok": True, "result": result})

    def fail(
        self, code: str, message: str, *, field: str | None = None, hint: str | None = None
    ) -> None:
        self._finish({"ok": False, "error": p.error_body(code, message, field=field, hint=hint)})

    def fail_with(self, exc: OpError) -> None:
        self._finish({"ok": False, "error": exc.body()})

    def _finish(self, body: dict[str, Any]) -> None:
        if not self.open:
            return
        try:
            frame = p.encode_message(p.RESPONSE, self.id, body)
        except (p.FrameTooLarge, ValueError) as exc:
            frame = p.encode_message(
                p.RESPONSE, self.id, {"ok": False, "error": p.error_body(p.E_TOO_LARGE, str(exc))}
            )
        self.session.send(frame)
        self.open = False
        self.session.streams.pop(self.id, None)

    # receiving
    def receive(self, frame: p.Frame) -> None:
        handler = self.handler or StreamHandler()
        if frame.type == p.DATA:
            left = self.receivable.get(frame.flags, 0) - len(frame.payload)
            if left < 0:
                self.cancel("host overran its window")
                self.fail(p.E_FLOW, f"DATA on channel {frame.flags} exceeded the granted window")
                return
            self.receivable[frame.flags] = left
            handler.on_data(frame.flags, frame.payload)
        elif frame.type == p.EOF:
            handler.on_eof(frame.flags)
        elif frame.type == p.WINDOW:
            self.credit[frame.flags] = self.credit.get(frame.flags, 0) + p.window_increment(frame)
            handler.on_window(frame.flags)
        elif frame.type == p.EVENT:
            handler.on_event(frame.message())
        elif frame.type == p.CANCEL:
            self.cancel("cancelled by the host")
            self.fail(p.E_CANCELLED, f"{self.op} cancelled by the host")

    def cancel(self, reason: str) -> None:
        if self.handler is not None:
            handler, self.handler = self.handler, None
            handler.on_cancel(reason)

    def detach(self, reason: str) -> None:
        """The session ended: nothing more can be sent."""
        self.open = False
        self.cancel(reason)


class Session:
    """Protocol state for one link."""

    def __init__(self, agent: Agent, link: Link) -> None:
        self.agent = agent
        self.link = link
        self.decoder = p.FrameDecoder()
        self.ready = False
        self.streams: dict[int, Stream] = {}
        link.session = self

    def send(self, data: bytes) -> None:
        self.link.send(data)

    def feed(self, data: bytes) -> None:
        self.decoder.feed(data)
        while True:
            try:
                frame = self.decoder.next_frame()
            except p.FrameTooLarge as exc:
                log.warn(f"{self.link.name}: {exc}")
                self._refuse(exc.stream, p.E_TOO_LARGE, str(exc))
                continue
            if frame is None:
                return
            try:
                self._dispatch(frame)
            except p.ProtocolError as exc:
                log.warn(f"{self.link.name}: {exc}")
                self._refuse(frame.stream, p.E_BAD_REQUEST, str(exc))

    def reset(self, reason: str) -> None:
        """The host went away: forget buffered bytes, the handshake and every stream."""
        self.decoder.reset()
        self._detach_all(reason)

    def _detach_all(self, reason: str) -> None:
        self.ready = False
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.detach(reason)

    def _refuse(self, sid: int, code: str, message: str) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            stream.cancel(message)
            stream.fail(code, message)
        elif sid:
            self.send(
                p.encode_message(
                    p.RESPONSE, sid, {"ok": False, "error": p.error_body(code, message)}
                )
            )

    def _dispatch(self, frame: p.Frame) -> None:
        if frame.type == p.HELLO:
            self._hello(frame.message())
        elif frame.type == p.REQUEST:
            self._request(frame)
        else:
            stream = self.streams.get(frame.stream)
            if stream is not None:  # frames for finished streams are normal; ignore them
                stream.receive(frame)

    def _hello(self, msg: dict[str, Any]) -> None:
        pending = len(self.streams)
        self._detach_all("the host started a new session")
        lowest, highest = msg.get("min"), msg.get("max")
        version = self.agent.version
        reply: dict[str, Any] = {
            "version": version,
            "nonce": msg.get("nonce"),
            "agent": "atelier-guest",
            "max_payload": p.MAX_PAYLOAD,
            "window": p.INITIAL_WINDOW,
        }
        if not (isinstance(lowest, int) and isinstance(highest, int)):
            reply.update(accepted=False, error="HELLO must carry integer 'min' and 'max' versions")
        elif not p.compatible(version, lowest, highest):
            reply.update(
                accepted=False,
                error=f"agent speaks protocol {version}; the host accepts {lowest}..{highest}",
            )
        else:
            reply["accepted"] = True
            self.ready = True
        if pending:
            log.info(f"{self.link.name}: new session; detached {pending} streams")
        self.send(p.encode_message(p.HELLO, 0, reply))

    def _request(self, frame: p.Frame) -> None:
        sid = frame.stream
        if sid == 0 or sid in self.streams:
            raise p.ProtocolError(f"REQUEST on stream {sid}, which is reserved or in use")
        msg = frame.message()
        error = self._gate(msg)
        op = msg.get("op")
        if error is not None:
            self._refuse(sid, *error)
            return
        assert isinstance(op, str)
        args = msg.get("args")
        stream = Stream(self, sid, op)
        self.streams[sid] = stream
        self.agent.run_op(op, stream, args if isinstance(args, dict) else {})

    def _gate(self, msg: dict[str, Any]) -> tuple[str, str] | None:
        if not self.ready:
            return p.E_HANDSHAKE, "send HELLO with a compatible version range before any request"
        token = msg.get("token")
        if not isinstance(token, str) or not token:
            return p.E_UNAUTHORIZED, "request carries no token; every request needs the VM's token"
        if not self.agent.token_ok(token):
            return p.E_UNAUTHORIZED, "token does not match this VM (a rotated token is refused)"
        op = msg.get("op")
        if not isinstance(op, str) or not self.agent.has_op(op):
            return p.E_UNKNOWN_OP, f"unknown operation {op!r}"
        return None


class Args:
    """Typed access to a request's arguments; wrong types raise `bad_request` naming the field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _bad(self, name: str, what: str) -> OpError:
        got = type(self.data.get(name)).__name__
        return OpError(p.E_BAD_REQUEST, f"field {name!r} must be {what}, got {got}", field=name)

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise OpError(p.E_BAD_REQUEST, f"field {name!r} is required", field=name)
            return default
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def need_text(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def path(self, name: str = "path") -> str:
        value = self.need_text(name)
        if not value.startswith("/") or "\0" in value:
            raise OpError(
                p.E_BAD_REQUEST,
                f"field {name!r} must be an absolute path, got {value!r}",
                field=name,
            )
        return os.path.normpath(value)

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(name, "an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OpError(
                p.E_BAD_REQUEST,
                f"field {name!r} must be within [{low}, {high}], got {value}",
                field=name,
            )
        return value

    def number(self, name: str, default: float | None = None, *, low: float = 0.0) -> float | None:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low:
            raise self._bad(name, f"a number >= {low}")
        return float(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "a boolean")
        return value

    def strings(self, name: str) -> list[str] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings")
        return value

    def env(self, name: str = "env") -> dict[str, str]:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(name, "a map of strings")
        return value

    def blob(self, name: str) -> bytes | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise self._bad(name, "bytes")
        return value
