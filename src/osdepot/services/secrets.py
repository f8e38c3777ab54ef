"""Secrets at rest: remote-server passwords, key passphrases and private keys are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key kept in the data
folder (``secret.key``, mode 0600), created on first use. The catalog never holds a
secret in clear, and no API answer or log line carries one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from osdepot.config import Settings
from osdepot.errors import error
from osdepot.messages import Messages

KEY_FILE = "secret.key"


class SecretBox:
    """Seals and opens secrets (Fernet) with the key in the data folder (or the file
    ``OSDEPOT_SECRET_KEY_FILE`` names: the same file on every node sharing a catalog),
    created on first use with mode 0600."""

    def __init__(self, data_dir: Path, key_file: Path | None = None) -> None:
        self.path = key_file or data_dir / KEY_FILE
        self._fernet: Fernet | None = None

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        return cls(settings.data_dir, settings.secret_key_file)

    def _load(self) -> Fernet:
        if self._fernet is None:
            if not self.path.exists():
                key = Fernet.generate_key()
                with contextlib.suppress(FileExistsError):  # another process made it
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(key)
                        f.flush()
                        os.fsync(f.fileno())
            self._fernet = Fernet(self.path.read_bytes().strip())
        return self._fernet

    def derived_key(self, purpose: bytes) -> bytes:
        """A key for ``purpose`` (HMAC signatures) derived from the secret key, so that
        every node sharing the key file derives the same one."""
        self._load()
        material = self.path.read_bytes().strip()
        return hmac.new(material, b"osdepot key for " + purpose, hashlib.sha256).digest()

    def seal(self, plain: str) -> str:
        return "" if not plain else self._load().encrypt(plain.encode()).decode("ascii")

    def open(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self._load().decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            raise error(
                Messages.INTERNAL,
                detail=f"A stored secret cannot be decrypted with {self.path}; was the key "
                "file replaced? Enter the remote server's credentials again.",
            ) from None
