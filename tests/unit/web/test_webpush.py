"""Web Push wire format: RFC 8291 encryption, VAPID JWTs (RFC 8292), endpoint checks."""

from __future__ import annotations

import json
from pathlib import Path

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from atelier.errors import ValidationError
from atelier.web.keys import b64url, unb64url
from atelier.web.webpush import VapidKeys, check_endpoint, check_keys, encrypt, push_request

# RFC 8291 Appendix A.
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
MESSAGE = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS"
    "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qu"
    "lcy4a-fN"
)


def _private(value: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(unb64url(value), "big"), ec.SECP256R1())


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def test_encryption_matches_the_rfc_8291_example() -> None:
    assert _public(_private(UA_PRIVATE)) == UA_PUBLIC
    body = encrypt(PLAINTEXT, UA_PUBLIC, AUTH, salt=unb64url(SALT), ephemeral=_private(AS_PRIVATE))
    assert b64url(body) == MESSAGE


def test_a_fresh_message_decrypts_with_the_subscription_keys() -> None:
    browser = ec.generate_private_key(ec.SECP256R1())
    auth = b64url(b"0123456789abcdef")
    first = encrypt(b'{"title": "hi"}', _public(browser), auth)
    second = encrypt(b'{"title": "hi"}', _public(browser), auth)
    assert first != second  # a new salt and key every time
    plain = http_ece.decrypt(
        first, private_key=browser, auth_secret=unb64url(auth), version="aes128gcm"
    )
    assert json.loads(plain) == {"title": "hi"}


def verify_jwt(jwt: str, public_key: str) -> dict[str, object]:
    """Check an ES256 JWT like a push service does; returns its claims."""
    header, body, signature = jwt.split(".")
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64url(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    key.verify(der, f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, object] = json.loads(unb64url(body))
    return claims


def test_vapid_keys_persist_and_sign(tmp_path: Path) -> None:
    keys = VapidKeys.load(tmp_path)
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600
    assert VapidKeys.load(tmp_path).public_key == keys.public_key
    assert len(unb64url(keys.public_key)) == 65
    header = keys.authorization("https://fcm.googleapis.com/fcm/send/abc", "mailto:ops@example.com")
    token, key = header.removeprefix("vapid t=").split(", k=")
    assert key == keys.public_key
    claims = verify_jwt(token, keys.public_key)
    assert claims["aud"] == "https://fcm.googleapis.com"
    assert claims["sub"] == "mailto:ops@example.com"
    other = VapidKeys(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(InvalidSignature):
        verify_jwt(token, other.public_key)


def test_push_request_headers(tmp_path: Path) -> None:
    browser = ec.generate_private_key(ec.SECP256R1())
    request = push_request(
        VapidKeys.load(tmp_path),
        "mailto:a@b.c",
        "https://fcm.googleapis.com/fcm/send/x",
        _public(browser),
        b64url(b"0123456789abcdef"),
        {"title": "t"},
        ttl_s=60,
        topic="attention-1",
    )
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert request.headers["TTL"] == "60"
    assert request.headers["Topic"] == "attention-1"
    assert request.headers["Authorization"].startswith("vapid t=")


ALLOWED = ["fcm.googleapis.com", "*.push.services.mozilla.com", "127.0.0.1"]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "http://127.0.0.1:8080/push/1",
    ],
)
def test_allowed_endpoints(endpoint: str) -> None:
    assert check_endpoint(endpoint, ALLOWED) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://evil.example/push",
        "https://push.services.mozilla.com.evil.example/x",
        "https://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
    ],
)
def test_refused_endpoints(endpoint: str) -> None:
    with pytest.raises(ValidationError):
        check_endpoint(endpoint, ALLOWED)


def test_subscription_keys_are_checked() -> None:
    browser = _public(ec.generate_private_key(ec.SECP256R1()))
    check_keys(browser, b64url(b"0123456789abcdef"))
    with pytest.raises(ValidationError):
        check_keys("not-a-point", b64url(b"0123456789abcdef"))
    with pytest.raises(ValidationError):
        check_keys(browser, b64url(b"short"))
