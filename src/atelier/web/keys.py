"""The dashboard's signing key: CSRF tokens and the signed OAuth state cookie.

The key is `server.session_secret` when set, else 32 random bytes in `<data_dir>/web.key`
(0600, created on first start). Each use derives its own subkey with HMAC, so a value
signed for one purpose never verifies for another. Replacing the key invalidates pending
GitHub sign-ins and every CSRF token (pages reload with fresh ones); sessions stay valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from atelier.errors import ConfigError


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Inverse of `b64url`; ValueError on bad input."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


class WebKeys:
    """HMAC signing with per-purpose subkeys."""

    def __init__(self, root: bytes) -> None:
        if len(root) < 16:
            raise ConfigError("the dashboard signing key must have at least 16 bytes")
        self._root = root

    @classmethod
    def load(cls, data_dir: Path, secret: str | None = None) -> WebKeys:
        """From `secret` (server.session_secret) or `<data_dir>/web.key`, created if missing."""
        if secret:
            return cls(hashlib.sha256(secret.encode()).digest())
        path = data_dir / "web.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            else:
                try:
                    os.write(fd, secrets.token_bytes(32))
                finally:
                    os.close(fd)
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc

    def _subkey(self, purpose: str) -> bytes:
        return hmac.new(self._root, purpose.encode(), hashlib.sha256).digest()

    def mac(self, purpose: str, message: str) -> str:
        """A base64url HMAC-SHA256 of `message` under the `purpose` subkey."""
        return b64url(hmac.new(self._subkey(purpose), message.encode(), hashlib.sha256).digest())

    def check(self, purpose: str, message: str, mac: str | None) -> bool:
        """Constant-time check of a `mac()` value."""
        return bool(mac) and hmac.compare_digest(self.mac(purpose, message), mac or "")

    def seal(self, purpose: str, data: dict[str, Any], ttl_s: float) -> str:
        """`data` signed with an expiry, as a cookie-safe string (readable, not secret)."""
        body = b64url(json.dumps({**data, "exp": time.time() + ttl_s}).encode())
        return f"{body}.{self.mac(purpose, body)}"

    def open(self, purpose: str, sealed: str | None) -> dict[str, Any] | None:
        """The data of a `seal()` value, or None when forged, malformed or expired."""
        if not sealed or "." not in sealed:
            return None
        body, mac = sealed.rsplit(".", 1)
        if not self.check(purpose, body, mac):
            return None
        try:
            data = json.loads(unb64url(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or float(data.get("exp", 0)) < time.time():
            return None
        return data
