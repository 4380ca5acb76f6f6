"""The two signature schemes of a delivery (SPEC §7), and the headers that carry them.

Recurr: ``X-Recurr-Signature: t=<t>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``.
Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>``.
During a rotation's grace each header carries one signature per valid secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cohortd import __version__
from cohortd.webhooks.secrets import signing_key


def recurr_signature(secrets: Sequence[str], *, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    parts += ["v1=" + hmac.new(signing_key(s), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join(parts)


def standard_signature(
    secrets: Sequence[str], *, event_id: str, timestamp: int, body: bytes
) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(signing_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def delivery_headers(
    secrets: Sequence[str],
    *,
    event_id: str,
    event_type: str,
    schema_version: str,
    timestamp: int,
    body: bytes,
) -> dict[str, str]:
    """Every header of one attempt; ``timestamp`` is the attempt's time (unix seconds)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"cohortd/{__version__}",
        "X-Recurr-Event-Id": event_id,
        "X-Recurr-Event-Type": event_type,
        "X-Recurr-Schema-Version": schema_version,
        "X-Recurr-Signature": recurr_signature(secrets, timestamp=timestamp, body=body),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(
            secrets, event_id=event_id, timestamp=timestamp, body=body
        ),
    }
