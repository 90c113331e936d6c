"""Certificate status for /health: wildcard files and the internal CA root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from atelier.runtime.proxy.certs import (
    certificate_status,
    covers,
    internal_root,
    read_certificate,
)
from atelier.runtime.proxy.config import ProxyConfig, ProxySettings, resolve
from tests.fakes.pki import ThrowawayCA


def settings(tmp_path: Path, **values: object) -> ProxySettings:
    return resolve(
        ProxyConfig(domain="atelier.test", **values),
        data_dir=tmp_path,
        run_dir=tmp_path,
        manager_host="127.0.0.1",
        manager_port=4000,
    )


def test_wildcard_files(tmp_path: Path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    issued = ca.issue("wild", ["*.atelier.test", "atelier.test"], days=20)
    s = settings(tmp_path, tls="wildcard_files", cert_file=issued.cert, key_file=issued.key)
    status = certificate_status(s)
    assert status.ok and "valid until" in status.detail
    assert status.not_after is not None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=19)
    soon = certificate_status(s, now=later)
    assert not soon.ok and "expires in" in soon.detail
    expired = certificate_status(s, now=later + dt.timedelta(days=5))
    assert not expired.ok and "expired" in expired.detail


def test_wildcard_files_problems(tmp_path: Path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    narrow = ca.issue("narrow", ["sandbox-x.atelier.test"])
    s = settings(tmp_path, tls="wildcard_files", cert_file=narrow.cert, key_file=narrow.key)
    assert "does not cover" in certificate_status(s).detail
    missing = settings(tmp_path, tls="wildcard_files", cert_file=tmp_path / "none.pem")
    assert not certificate_status(missing).ok
    wild = ca.issue("wild", ["*.atelier.test"])
    no_key = settings(
        tmp_path, tls="wildcard_files", cert_file=wild.cert, key_file=tmp_path / "none.key"
    )
    assert "key file" in certificate_status(no_key).detail
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    bad = settings(tmp_path, tls="wildcard_files", cert_file=garbage)
    assert "no PEM certificate" in certificate_status(bad).detail


def test_covers(tmp_path: Path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    cert = read_certificate(ca.issue("w", ["*.atelier.test", "atelier.test"]).cert)
    assert covers(cert, "sandbox-abc.atelier.test")
    assert covers(cert, "ATELIER.test")
    assert not covers(cert, "a.b.atelier.test")
    assert not covers(cert, "atelier.other")


def test_internal_and_other_modes(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert not certificate_status(s).ok
    root = internal_root(s)
    root.parent.mkdir(parents=True)
    ca = ThrowawayCA(tmp_path / "ca")
    root.write_bytes(ca.pem.read_bytes())
    assert certificate_status(s).ok
    assert certificate_status(settings(tmp_path, tls="off")).detail.startswith("TLS off")
    assert certificate_status(settings(tmp_path, tls="on_demand")).ok
