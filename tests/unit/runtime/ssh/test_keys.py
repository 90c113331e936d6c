"""Public key parsing refuses what the gateway would not accept, naming the problem."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncssh
import pytest

from atelier.runtime.ssh.errors import SshGatewayError, SshKeyInvalid
from atelier.runtime.ssh.keys import (
    generate_keypair,
    import_private_key,
    load_or_create_host_key,
    parse_public_key,
)


def _public(key: asyncssh.SSHKey, comment: str | None = None) -> str:
    if comment is not None:
        key.set_comment(comment)
    return str(key.export_public_key("openssh").decode())


def test_ed25519_key_is_normalised() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    parsed = parse_public_key("  " + _public(key, "me@laptop") + "\n")
    kind, blob = parsed.openssh.split()
    assert kind == "ssh-ed25519" and parsed.algorithm == kind
    assert parsed.comment == "me@laptop"
    assert parsed.fingerprint == key.get_fingerprint("sha256")
    assert parsed.fingerprint.startswith("SHA256:")
    assert parsed.authorized_keys_line("x") == f"{kind} {blob} x"


def test_rfc4716_form_is_accepted() -> None:
    key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    text = key.export_public_key("rfc4716").decode()
    assert parse_public_key(text).algorithm == "ecdsa-sha2-nistp256"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("ssh-ed25519 AAAAnot-base64", "not a valid SSH public key"),
        ("hello world", "not a valid SSH public key"),
    ],
)
def test_garbage_is_refused(text: str, words: str) -> None:
    with pytest.raises(SshKeyInvalid) as info:
        parse_public_key(text)
    assert words in info.value.message
    assert info.value.field == "public_key"
    assert info.value.hint


def test_private_key_is_refused_with_a_warning() -> None:
    private = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    with pytest.raises(SshKeyInvalid) as info:
        parse_public_key(private)
    assert "PRIVATE key" in info.value.message
    assert info.value.hint is not None and ".pub" in info.value.hint


def test_short_rsa_and_several_keys_are_refused() -> None:
    weak = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
    with pytest.raises(SshKeyInvalid) as info:
        parse_public_key(_public(weak))
    assert "1024 bits" in info.value.message and "2048" in info.value.message
    strong = _public(asyncssh.generate_private_key("ssh-rsa", key_size=2048))
    assert parse_public_key(strong).bits == 2048
    two = _public(asyncssh.generate_private_key("ssh-ed25519")) * 2
    with pytest.raises(SshKeyInvalid, match="2 lines"):
        parse_public_key(two)


def test_options_and_certificates_are_refused() -> None:
    line = _public(asyncssh.generate_private_key("ssh-ed25519"))
    with pytest.raises(SshKeyInvalid, match="authorized_keys options"):
        parse_public_key('from="10.0.0.1",no-pty ' + line)
    ca = asyncssh.generate_private_key("ssh-ed25519")
    user = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(user, "me").export_certificate().decode()
    with pytest.raises(SshKeyInvalid, match="certificate"):
        parse_public_key(cert)


def test_generated_keypair_round_trips() -> None:
    pair = generate_keypair("atelier-gateway@abcdefgh")
    assert pair.public.algorithm == "ssh-ed25519"
    assert pair.public.comment == "atelier-gateway@abcdefgh"
    key = import_private_key(pair.private_openssh)
    assert key.get_fingerprint("sha256") == pair.public.fingerprint
    with pytest.raises(SshGatewayError):
        import_private_key("not a key")


def test_host_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "ssh" / "gateway_host_ed25519_key"
    first = load_or_create_host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_host_key(path)
    assert again.get_fingerprint() == first.get_fingerprint()
    path.write_text("garbage")
    with pytest.raises(SshGatewayError) as info:
        load_or_create_host_key(path)
    assert str(path) in info.value.message
