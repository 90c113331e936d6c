"""SSH keys: parsing users' public keys, fingerprints, per-sandbox keypairs, the host key.

Parsing refuses anything the gateway would not accept later, with a message that names the
problem (a private key pasted, a certificate, DSA, short RSA, several keys). Nothing here
touches the database; the core service stores what these functions return.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from atelier.runtime.ssh.errors import SshGatewayError, SshKeyInvalid

MIN_RSA_BITS = 2048
MAX_KEY_TEXT = 16_384
ACCEPTED_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)
_HINT = "paste the contents of your public key file, e.g. ~/.ssh/id_ed25519.pub"
_KEY_START = re.compile(r"(?:^|[\s,])((?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]+)\s+AAAA")


@dataclass(frozen=True)
class PublicKey:
    """A validated public key in OpenSSH form."""

    algorithm: str
    openssh: str  # "type base64", without comment
    comment: str | None
    fingerprint: str  # "SHA256:…", as `ssh-keygen -l` prints it
    bits: int | None = None

    def authorized_keys_line(self, comment: str | None = None) -> str:
        """The key as one authorized_keys line."""
        note = comment if comment is not None else self.comment
        return f"{self.openssh} {note}" if note else self.openssh


@dataclass(frozen=True)
class KeyPair:
    """A freshly generated keypair: the private key in OpenSSH PEM and its public half."""

    private_openssh: str
    public: PublicKey


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The SHA256 fingerprint of a key, as OpenSSH prints it."""
    return str(key.get_fingerprint("sha256"))


def describe(key: asyncssh.SSHKey) -> PublicKey:
    """A PublicKey for an asyncssh key (public or private)."""
    public = key.convert_to_public()
    text = public.export_public_key("openssh").decode().split()
    comment = public.get_comment()
    bits = _rsa_bits(public)
    return PublicKey(text[0], f"{text[0]} {text[1]}", comment or None, fingerprint(public), bits)


def parse_public_key(text: str) -> PublicKey:
    """Validate one public key (OpenSSH or RFC 4716 form) and return it normalised.

    Raises SshKeyInvalid naming what is wrong.
    """
    stripped = text.strip()
    if not stripped:
        raise SshKeyInvalid("public_key is empty", hint=_HINT, field="public_key")
    if len(stripped) > MAX_KEY_TEXT:
        raise SshKeyInvalid(
            f"public_key is {len(stripped)} characters long; at most {MAX_KEY_TEXT} are allowed",
            hint=_HINT,
            field="public_key",
        )
    if "PRIVATE KEY" in stripped:
        raise SshKeyInvalid(
            "public_key holds a PRIVATE key; never share it",
            hint="use the file ending in .pub instead (and consider this private key exposed)",
            field="public_key",
        )
    lines = [line for line in stripped.splitlines() if line.strip()]
    if not stripped.startswith("----") and len(lines) > 1:
        raise SshKeyInvalid(
            f"public_key holds {len(lines)} lines; add one key at a time",
            hint=_HINT,
            field="public_key",
        )
    stripped = _drop_options(stripped)
    first = stripped.split(None, 1)[0]
    if first.endswith("-cert-v01@openssh.com"):
        raise SshKeyInvalid(
            f"public_key is a certificate ({first}); certificates are not supported",
            hint="add the plain public key the certificate was issued for",
            field="public_key",
        )
    try:
        key = asyncssh.import_public_key(stripped)
    except (asyncssh.KeyImportError, ValueError, UnicodeError) as exc:
        raise SshKeyInvalid(
            f"public_key is not a valid SSH public key ({exc})", hint=_HINT, field="public_key"
        ) from exc
    return _check_type(describe(key))


def _drop_options(text: str) -> str:
    """Refuse authorized_keys options: the gateway decides access, not the key line."""
    if text.startswith("----"):
        return text
    match = _KEY_START.search(text)
    if match and match.start(1) > 0:
        options = text[: match.start(1)].strip().rstrip(",")
        raise SshKeyInvalid(
            f"public_key starts with authorized_keys options ({options[:40]}); they are not"
            " supported",
            hint="remove everything before the key type (ssh-ed25519, ecdsa-…, ssh-rsa)",
            field="public_key",
        )
    return text


def _check_type(key: PublicKey) -> PublicKey:
    if key.algorithm not in ACCEPTED_TYPES:
        raise SshKeyInvalid(
            f"public_key type {key.algorithm!r} is not accepted; use one of"
            f" {', '.join(ACCEPTED_TYPES)}",
            hint="create a modern key with: ssh-keygen -t ed25519",
            field="public_key",
        )
    if key.bits is not None and key.bits < MIN_RSA_BITS:
        raise SshKeyInvalid(
            f"public_key is RSA with {key.bits} bits; at least {MIN_RSA_BITS} are required",
            hint="create a modern key with: ssh-keygen -t ed25519",
            field="public_key",
        )
    return key


def _rsa_bits(key: asyncssh.SSHKey) -> int | None:
    if key.algorithm != b"ssh-rsa":
        return None
    size = getattr(key.pyca_key, "key_size", None)
    return int(size) if size is not None else None


def generate_keypair(comment: str) -> KeyPair:
    """A new Ed25519 keypair, e.g. the per-sandbox key the gateway logs in to a guest with."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = key.export_private_key("openssh").decode()
    return KeyPair(private, describe(key))


def import_private_key(text: str) -> asyncssh.SSHKey:
    """Load a private key produced by `generate_keypair` (or any unencrypted OpenSSH key)."""
    try:
        return asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise SshGatewayError(
            f"a stored private key cannot be loaded: {exc}",
            hint="forget the sandbox's key so a new one is generated at its next start",
        ) from exc


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The gateway's Ed25519 host key at `path`, created (0600, directory 0700) when missing.

    Raises SshGatewayError when the file exists but cannot be read as a private key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="atelier-gateway")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs below
        else:
            try:
                os.write(fd, key.export_private_key("openssh"))
            finally:
                os.close(fd)
    try:
        return asyncssh.read_private_key(path)
    except (OSError, asyncssh.KeyImportError, ValueError) as exc:
        raise SshGatewayError(
            f"cannot load the gateway host key {path}: {exc}",
            hint="restore the file from backup, or delete it to create a new host key (clients"
            " will then warn that the host key changed)",
        ) from exc
