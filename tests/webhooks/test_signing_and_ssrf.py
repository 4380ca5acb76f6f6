"""Signatures (both schemes, rotation), PII modes, secrets at rest, and the SSRF rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from cohortd.db import utcnow
from cohortd.events.envelope import body_for, event_id_at, timestamp
from cohortd.webhooks.secrets import SecretBox, new_signing_secret
from cohortd.webhooks.signing import delivery_headers
from cohortd.webhooks.ssrf import UnsafeUrl, check_url, parse_networks
from tests.webhooks.helpers import recurr_valid

BODY = b'{"id":"evt_1","object":"event"}'


def test_secret_format() -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_both_schemes_verify_and_match_a_hand_computation() -> None:
    secret = new_signing_secret()
    stamp = int(utcnow().timestamp())
    headers = delivery_headers(
        [secret],
        event_id="evt_1",
        event_type="cohort.created",
        schema_version="v1",
        timestamp=stamp,
        body=BODY,
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    Webhook(secret).verify(BODY, lowered)  # raises when wrong
    assert recurr_valid(secret, lowered, BODY) == [True]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"evt_1.{stamp}.".encode() + BODY, hashlib.sha256).digest()
    ).decode()
    assert lowered["webhook-signature"] == f"v1,{expected}"
    assert lowered["webhook-id"] == "evt_1" and lowered["webhook-timestamp"] == str(stamp)
    assert lowered["x-recurr-event-type"] == "cohort.created"
    assert lowered["user-agent"].startswith("cohortd/")
    # a tampered body fails both
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", lowered)
    assert recurr_valid(secret, lowered, BODY + b" ") == [False]


def test_rotation_grace_sends_two_signatures_each_verifying() -> None:
    new, old = new_signing_secret(), new_signing_secret()
    stamp = int(utcnow().timestamp())
    headers = {
        k.lower(): v
        for k, v in delivery_headers(
            [new, old],
            event_id="evt_2",
            event_type="destination.test",
            schema_version="v1",
            timestamp=stamp,
            body=BODY,
        ).items()
    }
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert headers["x-recurr-signature"].count("v1=") == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    assert recurr_valid(new, headers, BODY) == [True, False]
    assert recurr_valid(old, headers, BODY) == [False, True]


def test_pii_modes() -> None:
    stored = json.dumps(
        {
            "id": "evt_1",
            "subscriber": {
                "id": "c1",
                "email": "a@b.c",
                "email_hashed": "sha256:x",
                "created_at": "t",
            },
            "data": {"email": "a@b.c", "nested": [{"email": "d@e.f", "keep": 1}], "mrr": 5},
        }
    )
    full = json.loads(body_for(stored, "full"))
    assert full["subscriber"]["email"] == "a@b.c" and full["data"]["email"] == "a@b.c"
    hashed = json.loads(body_for(stored, "hashed_only"))
    assert hashed["subscriber"] == {"id": "c1", "email_hashed": "sha256:x", "created_at": "t"}
    assert hashed["data"] == {"nested": [{"keep": 1}], "mrr": 5}
    minimal = json.loads(body_for(stored, "minimal"))
    assert minimal["subscriber"] == {"id": "c1"}
    assert minimal["data"] == {"nested": [{"keep": 1}], "mrr": 5}
    # deterministic: the same bytes every time
    assert body_for(stored, "minimal") == body_for(stored, "minimal")


def test_event_ids_are_ulids_fixed_by_identity() -> None:
    now = utcnow()
    a = event_id_at(now, "org", "c1", "day")
    assert a == event_id_at(now, "org", "c1", "day") and a.startswith("evt_") and len(a) == 30
    assert a != event_id_at(now, "org", "c2", "day")
    assert timestamp(now).endswith("Z") and len(timestamp(now)) == len("2026-01-01T00:00:00.000Z")


def test_secret_box_encrypts_and_rotates_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    sealed = SecretBox([old_key]).seal("whsec_abc")
    assert "whsec_abc" not in sealed
    # the new key first, the old one still decrypts
    assert SecretBox([new_key, old_key]).open(sealed) == "whsec_abc"
    with pytest.raises(RuntimeError, match="COHORTD_SECRET_KEY"):
        SecretBox([new_key]).open(sealed)


def test_without_a_configured_key_one_is_generated_into_the_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cohortd.config import Settings
    from cohortd.webhooks.secrets import KEY_FILE, secret_box

    settings = Settings(data_dir=tmp_path, secret_key=None)
    sealed = secret_box(settings).seal("whsec_abc")
    key_file = tmp_path / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    # the next start reads the same file: what it sealed still opens
    assert secret_box(Settings(data_dir=tmp_path, secret_key=None)).open(sealed) == "whsec_abc"
    # another data dir is another key
    with pytest.raises(RuntimeError, match="COHORTD_SECRET_KEY"):
        secret_box(Settings(data_dir=tmp_path / "other", secret_key=None)).open(sealed)


# -- SSRF --------------------------------------------------------------------------------
def _fixed(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://169.254.10.10/", "link-local"),
        ("https://169.254.169.254/latest/meta-data/", "cloud-metadata"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[fd00::1]/", "private"),
        ("https://100.64.0.1/", "CGNAT"),
        ("https://224.0.0.1/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://2130706433/", "loopback"),  # decimal 127.0.0.1
        ("https://0177.0.0.1/", "loopback"),  # octal 127.0.0.1
        ("http://93.184.215.14/", "https"),  # live mode: https only
    ],
)
def test_live_mode_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url, livemode=True)


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("https://hooks.example.com/x", livemode=True, resolver=_fixed("10.0.0.7"))
    # every address is checked, not only the first
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url(
            "https://hooks.example.com/x",
            livemode=True,
            resolver=_fixed("93.184.215.14", "127.0.0.1"),
        )
    target = check_url(
        "https://hooks.example.com/x?a=1", livemode=True, resolver=_fixed("93.184.215.14")
    )
    assert (target.address, target.host, target.path) == (
        "93.184.215.14",
        "hooks.example.com",
        "/x?a=1",
    )


def test_test_mode_allows_http_loopback_never_link_local() -> None:
    assert check_url("http://127.0.0.1:8080/h", livemode=False).address == "127.0.0.1"
    assert check_url("http://[::1]:8080/h", livemode=False).address == "::1"
    for url in ("http://169.254.169.254/", "http://169.254.1.1/", "http://[fe80::1]/"):
        with pytest.raises(UnsafeUrl):
            check_url(url, livemode=False)
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("http://10.0.0.1/", livemode=False)
    with pytest.raises(UnsafeUrl):
        check_url("ftp://127.0.0.1/", livemode=False)


def test_operators_may_allow_networks_but_never_metadata() -> None:
    allow = parse_networks("10.0.0.0/8, 169.254.0.0/16")
    assert check_url("https://10.2.3.4/", livemode=True, allow=allow).address == "10.2.3.4"
    with pytest.raises(UnsafeUrl, match="cloud-metadata"):
        check_url("https://169.254.169.254/", livemode=True, allow=allow)
