"""Encryption of secrets at rest.

A Fernet key (AES-128-CBC + HMAC-SHA256) lives in `<data_dir>/secret.key` (mode 0600),
created on first use. Agent tokens, workspace secrets, git-source credentials and synced
provider credentials are stored only as ciphertext produced here.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from atelier.errors import ConfigError


class SecretBox:
    """Encrypts and decrypts small secrets with the host's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """Load `<data_dir>/secret.key`, creating it (0600) if missing."""
        path = data_dir / "secret.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, key)
            finally:
                os.close(fd)
        try:
            return cls(path.read_bytes().strip())
        except ValueError as exc:
            raise ConfigError(
                f"{path} does not hold a valid key",
                hint="restore it from backup; without it stored secrets cannot be read",
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext as text, safe to store in the database."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext; ConfigError when the key does not match."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "a stored secret cannot be decrypted with this host's key",
                hint="was secret.key replaced? restore the original key",
            ) from exc
