"""Shared helpers of the webhook tests: files to import, a hand-written Recurr check."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, timedelta
from typing import Any

from cohortd import clock
from tests.fixtures.api import ApiHarness


def today() -> date:
    return clock.today()


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


CUSTOMERS = (
    "id,name,email,created_at,currency\n"
    f"c1,Acme,ann@example.com,{days_ago(200)},\n"
    f"c2,Beta,bob@example.com,{days_ago(200)},\n"
    f"c3,Gamma,,{days_ago(200)},\n"
)
# c1: paid from 10 days ago (activated); c2: paid since 100 days ago (too old for an
# event), up from 10.00 to 25.00 five days ago (upgraded); c3: paid from 20 days ago to
# 3 days ago (activated, then cancelled).
SUBSCRIPTIONS = (
    "id,customer_id,plan_id,currency,mrr,start_date,end_date,status\n"
    f"s1,c1,pro,USD,19.99,{days_ago(10)},,active\n"
    f"s2,c2,basic,USD,10.00,{days_ago(100)},{days_ago(5)},active\n"
    f"s3,c2,pro,USD,25.00,{days_ago(5)},,active\n"
    f"s4,c3,basic,EUR,5.00,{days_ago(20)},{days_ago(3)},cancelled\n"
)


def import_files(api: ApiHarness, files: dict[str, str], *, mode: str = "test") -> dict[str, Any]:
    created = api.client.post(
        "/v1/imports",
        headers=api.headers(mode),
        files={k: (f"{k}.csv", v.encode()) for k, v in files.items()},
    )
    assert created.status_code == 202, created.text
    job = api.client.get(f"/v1/imports/{created.json()['id']}", headers=api.headers(mode)).json()
    assert job["status"] == "succeeded", job
    return job


def create_destination(
    api: ApiHarness, url: str, *, mode: str = "test", **fields: Any
) -> dict[str, Any]:
    answer = api.client.post(
        "/v1/destinations", headers=api.headers(mode), json={"url": url, **fields}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def recurr_valid(secret: str, headers: dict[str, str], body: bytes) -> list[bool]:
    """Check ``X-Recurr-Signature`` by hand: one bool per v1 entry."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    parts = headers["x-recurr-signature"].split(",")
    stamp = parts[0].removeprefix("t=")
    expected = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return [hmac.compare_digest(p.removeprefix("v1="), expected) for p in parts[1:]]
