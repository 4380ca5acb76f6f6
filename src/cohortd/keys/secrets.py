"""Key material: generation, hashing, constant-time comparison, redaction."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import Final

_BASE62: Final = string.ascii_letters + string.digits
SECRET_LENGTH: Final = 40  # random base62 characters after the prefix (SPEC: at least 32)
KEY_PATTERN: Final = re.compile(r"^rk_(live|test)_[A-Za-z0-9]{32,}$")


def generate_secret(livemode: bool) -> str:
    body = "".join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))
    return f"rk_{'live' if livemode else 'test'}_{body}"


def hash_secret(secret: str) -> str:
    """SHA-256 hex: keys are long random strings, so a fast hash is the right tool."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def mode_of(secret: str) -> bool | None:
    """True for live, False for test, None when the string is not a cohortd key."""
    match = KEY_PATTERN.match(secret)
    if match is None:
        return None
    return match.group(1) == "live"


def masked(livemode: bool, last4: str) -> str:
    return f"rk_{'live' if livemode else 'test'}_****{last4}"
