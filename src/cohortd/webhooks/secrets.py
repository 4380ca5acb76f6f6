"""Signing secrets: made (``whsec_`` + base64 of 32 random bytes), and kept encrypted.

The encryption key comes from ``COHORTD_SECRET_KEY`` (Fernet keys, comma-separated: the
first encrypts, every one decrypts, so a key is rotated by putting the new one first).
When unset, a key is generated once into ``<data dir>/secret.key`` (mode 0600) and used
from then on; losing that file loses every destination's secret.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cohortd.config import Settings

PREFIX = "whsec_"
KEY_FILE = "secret.key"


def new_signing_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (SPEC §7)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


class SecretBox:
    """Encrypts and decrypts signing secrets with the configured key(s)."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "a signing secret cannot be decrypted: COHORTD_SECRET_KEY lacks the key that "
                "encrypted it"
            ) from None


def secret_box(settings: Settings) -> SecretBox:
    """The box of ``settings``: its keys, else the data dir's generated key."""
    if settings.secret_key:
        keys = [k.strip().encode() for k in settings.secret_key.split(",") if k.strip()]
        return _box(tuple(keys))
    return _box((_key_file(settings.data_dir),))


@lru_cache(maxsize=16)
def _box(keys: tuple[bytes, ...]) -> SecretBox:
    return SecretBox(list(keys))


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once agree on one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
