"""Sandbox-host cookies, one-time handoff codes, keys and safe redirects."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from atelier.core.proxy.tokens import (
    HandoffCodes,
    HostCookies,
    ProxyKeys,
    cookie_name,
    new_state,
    safe_next,
    valid_state,
)
from atelier.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_host_cookie_round_trip_binding_and_expiry() -> None:
    clock = Clock()
    cookies = HostCookies(b"k" * 32, ttl_s=3600, clock=clock)
    value = cookies.issue("abcdefgh", "sandbox-x.example.com")
    assert cookies.verify(value, "sandbox-x.example.com") == "abcdefgh"
    assert cookies.verify(value, "sandbox-y.example.com") is None
    assert HostCookies(b"j" * 32, 3600, clock).verify(value, "sandbox-x.example.com") is None
    forged = value.replace("abcdefgh", "bbbbbbbb")
    assert cookies.verify(forged, "sandbox-x.example.com") is None
    longer = value.rsplit(".", 2)[0] + ".9999999999." + value.rsplit(".", 1)[1]
    assert cookies.verify(longer, "sandbox-x.example.com") is None
    for junk in ("", "v1", "v2.a.1.x", "v1.a.notanumber.x", "a.b.c.d.e"):
        assert cookies.verify(junk, "sandbox-x.example.com") is None
    clock.now += 3601
    assert cookies.verify(value, "sandbox-x.example.com") is None


def test_codes_are_single_use_and_bound() -> None:
    clock = Clock()
    codes = HandoffCodes(ttl_s=60, clock=clock)
    code = codes.issue("user0001", "h.example.com", "state-abcdefghijkl")
    assert codes.consume(code, "h.example.com", "state-abcdefghijkl") == "user0001"
    assert codes.consume(code, "h.example.com", "state-abcdefghijkl") is None
    other_host = codes.issue("user0001", "h.example.com", "s" * 20)
    assert codes.consume(other_host, "g.example.com", "s" * 20) is None
    assert codes.consume(other_host, "h.example.com", "s" * 20) is None  # spent by the failure
    wrong_state = codes.issue("user0001", "h.example.com", "s" * 20)
    assert codes.consume(wrong_state, "h.example.com", "t" * 20) is None
    no_state = codes.issue("user0001", "h.example.com", "s" * 20)
    assert codes.consume(no_state, "h.example.com", None) is None
    late = codes.issue("user0001", "h.example.com", "s" * 20)
    clock.now += 61
    assert codes.consume(late, "h.example.com", "s" * 20) is None
    assert codes.consume("never-issued", "h.example.com", "s" * 20) is None


def test_keys_are_created_private_and_stable(tmp_path: Path) -> None:
    first = ProxyKeys.from_data_dir(tmp_path)
    assert stat.S_IMODE((tmp_path / "proxy.key").stat().st_mode) == 0o600
    again = ProxyKeys.from_data_dir(tmp_path)
    assert first == again
    assert len(first.caddy_secret) == 64 and first.cookie_key != first.caddy_secret.encode()
    (tmp_path / "proxy.key").write_bytes(b"short")
    with pytest.raises(ConfigError, match="fewer than 32"):
        ProxyKeys.from_data_dir(tmp_path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/work?folder=/w", "/work?folder=/w"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        ("javascript:alert(1)", "/"),
        ("relative/path", "/"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_state_and_cookie_names() -> None:
    state = new_state()
    assert valid_state(state) and not valid_state("short") and not valid_state(None)
    assert not valid_state("x" * 20 + ";")
    assert cookie_name("atelier_sbx", True) == "__Host-atelier_sbx"
    assert cookie_name("atelier_sbx", False) == "atelier_sbx"
