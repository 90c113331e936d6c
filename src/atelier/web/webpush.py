"""Web Push on the wire: VAPID keys and JWTs (RFC 8292), payload encryption (RFC 8291).

`VapidKeys` keeps the manager's P-256 application-server key in `<data_dir>/vapid.pem`
(0600, created on first start); browsers subscribe with its public half. `encrypt()` makes
an `aes128gcm` body (RFC 8188) with a fresh ephemeral key per message, so only the
subscribing browser (holding the `p256dh` private key and the `auth` secret) can read it.
`push_request()` builds the HTTP request a push service expects; nothing here does I/O
besides reading and writing the key file.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from atelier.errors import ConfigError, ValidationError
from atelier.web.keys import b64url, unb64url

JWT_TTL_S = 12 * 3600  # RFC 8292 caps `exp` at 24 h
MAX_PAYLOAD = 3072  # push services accept 4096-byte bodies; leave room for the header


class VapidKeys:
    """The application server's ECDSA P-256 key pair."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = b64url(raw)  # `applicationServerKey` for PushManager.subscribe

    @classmethod
    def load(cls, data_dir: Path) -> VapidKeys:
        """`<data_dir>/vapid.pem`, generated when missing."""
        path = data_dir / "vapid.pem"
        if not path.exists():
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                try:
                    os.write(fd, pem)
                finally:
                    os.close(fd)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path} does not hold a VAPID key: {exc}",
                hint="delete it to generate a new one (browsers must then subscribe again)",
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ConfigError(f"{path} must hold a P-256 private key")
        return cls(key)

    def jwt(self, audience: str, subject: str, now: float | None = None) -> str:
        """An ES256 JWT for one push service origin."""
        issued = time.time() if now is None else now
        header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
        claims = {"aud": audience, "exp": int(issued + JWT_TTL_S), "sub": subject}
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode()
        r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def authorization(self, endpoint: str, subject: str) -> str:
        """The `Authorization` header value for a request to `endpoint`."""
        parts = urlsplit(endpoint)
        return (
            f"vapid t={self.jwt(f'{parts.scheme}://{parts.netloc}', subject)}, k={self.public_key}"
        )


def encrypt(
    payload: bytes,
    p256dh: str,
    auth: str,
    *,
    salt: bytes | None = None,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """An RFC 8291 `aes128gcm` body for a subscription's keys.

    `salt` and `ephemeral` are fresh random values unless given (test vectors only).
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValidationError(f"push payload is {len(payload)} bytes; at most {MAX_PAYLOAD}")
    body: bytes = http_ece.encrypt(
        payload,
        salt=salt or os.urandom(16),
        private_key=ephemeral or ec.generate_private_key(ec.SECP256R1()),
        dh=unb64url(p256dh),
        auth_secret=unb64url(auth),
        version="aes128gcm",
    )
    return body


def check_keys(p256dh: str, auth: str) -> None:
    """ValidationError unless the keys are a P-256 point and a 16-byte secret."""
    try:
        point = unb64url(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        secret = unb64url(auth)
    except ValueError as exc:
        raise ValidationError(
            "subscription keys are not valid: p256dh must be a base64url P-256 point",
            field="keys.p256dh",
        ) from exc
    if len(secret) != 16:
        raise ValidationError(
            f"subscription auth secret has {len(secret)} bytes; it must have 16",
            field="keys.auth",
        )


def check_endpoint(endpoint: str, allowed: list[str]) -> str:
    """The endpoint when its host is an allowed push service; ValidationError otherwise."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    listed = any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in allowed)
    if parts.scheme == "https" and listed and not _is_ip(host):
        return endpoint
    if parts.scheme == "http" and listed and _is_loopback(host):
        return endpoint
    raise ValidationError(
        f"push endpoint host {host or endpoint!r} is not an allowed push service",
        field="endpoint",
        hint="allowed: " + ", ".join(allowed) + " (web.push_hosts)",
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class PushRequest:
    """One HTTP request to a push service."""

    url: str
    headers: dict[str, str]
    body: bytes


def push_request(
    vapid: VapidKeys,
    subject: str,
    endpoint: str,
    p256dh: str,
    auth: str,
    message: dict[str, object],
    *,
    ttl_s: int,
    urgency: str = "high",
    topic: str | None = None,
) -> PushRequest:
    """The encrypted request delivering `message` (JSON) to one subscription."""
    body = encrypt(json.dumps(message).encode(), p256dh, auth)
    headers = {
        "Authorization": vapid.authorization(endpoint, subject),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl_s),
        "Urgency": urgency,
    }
    if topic:
        headers["Topic"] = topic[:32]
    return PushRequest(endpoint, headers, body)
