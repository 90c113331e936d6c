"""The credentials of the sandbox-host handshake: keys, signed host cookies, one-time codes.

A sandbox host never sees the dashboard session. The dashboard host issues a one-time code
(60 s, single use, bound to one host and to the state cookie that started the flow); the
sandbox host trades it for its own cookie, HMAC-signed over user, host and expiry, so a
cookie of one host is worthless on any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atelier.errors import ConfigError
from atelier.runtime.proxy.base import COOKIE_PREFIX

HOST_COOKIE = f"{COOKIE_PREFIX}sbx"
STATE_COOKIE = f"{COOKIE_PREFIX}state"
CODE_TTL_S = 60.0
STATE_TTL_S = 600
_STATE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_KEY_FILE = "proxy.key"


def cookie_name(base: str, secure: bool) -> str:
    """`__Host-<base>` on HTTPS (host-only, Secure, Path=/ enforced by browsers), else `<base>`."""
    return f"__Host-{base}" if secure else base


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class ProxyKeys:
    """Keys derived from `<data_dir>/proxy.key`: the cookie MAC key and Caddy's secret."""

    cookie_key: bytes
    caddy_secret: str

    @classmethod
    def derive(cls, master: bytes) -> ProxyKeys:
        """Both keys from one master secret."""
        cookie = hmac.new(master, b"atelier sandbox-host cookie v1", hashlib.sha256).digest()
        caddy = hmac.new(master, b"atelier caddy shared secret v1", hashlib.sha256).hexdigest()
        return cls(cookie, caddy)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> ProxyKeys:
        """Load the master key (created 0600 on first use)."""
        path = data_dir / _KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(32))
        master = path.read_bytes()
        if len(master) < 32:
            raise ConfigError(
                f"{path} holds {len(master)} bytes, fewer than 32",
                hint="delete it; a new key is made at the next start (sandbox logins reset)",
            )
        return cls.derive(master)


class HostCookies:
    """Signs and checks sandbox-host cookies: `v1.<user id>.<expiry>.<mac>`."""

    def __init__(self, key: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    def _mac(self, user_id: str, host: str, expires: int) -> str:
        message = f"v1|{user_id}|{host}|{expires}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, user_id: str, host: str) -> str:
        """A cookie value for `user_id`, valid on `host` only, for `ttl_s`."""
        expires = int(self._clock()) + self.ttl_s
        return f"v1.{user_id}.{expires}.{self._mac(user_id, host, expires)}"

    def verify(self, value: str, host: str) -> str | None:
        """The user id, when the cookie is intact, for this host and not expired."""
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            return None
        _, user_id, expires_text, mac = parts
        expires = int(expires_text)
        if expires < self._clock():
            return None
        if not hmac.compare_digest(mac, self._mac(user_id, host, expires)):
            return None
        return user_id


@dataclass(frozen=True)
class _Pending:
    user_id: str
    host: str
    state: str
    expires: float


class HandoffCodes:
    """One-time codes from the dashboard host to a sandbox host (in memory, one manager)."""

    def __init__(
        self, ttl_s: float = CODE_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def issue(self, user_id: str, host: str, state: str) -> str:
        """A fresh code for `user_id` on `host`, redeemable once with the same state."""
        now = self._clock()
        self._pending = {c: p for c, p in self._pending.items() if p.expires > now}
        code = secrets.token_urlsafe(32)
        self._pending[code] = _Pending(user_id, host, state, now + self.ttl_s)
        return code

    def consume(self, code: str, host: str, state: str | None) -> str | None:
        """The user id of a valid code for this host and state; the code is spent either way."""
        pending = self._pending.pop(code, None)
        if pending is None or pending.expires <= self._clock():
            return None
        if pending.host != host or state is None:
            return None
        if not hmac.compare_digest(pending.state, state):
            return None
        return pending.user_id


def new_state() -> str:
    """A fresh handshake state value."""
    return secrets.token_urlsafe(24)


def valid_state(value: str | None) -> bool:
    """Whether a state value has the shape `new_state` makes."""
    return value is not None and bool(_STATE_RE.match(value))


def safe_next(value: str | None) -> str:
    """A same-host path to return to; anything else (URLs, `//host`, `/\\host`) becomes `/`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ch in value for ch in "\r\n\t\\") or any(ord(ch) < 0x20 for ch in value):
        return "/"
    return value
