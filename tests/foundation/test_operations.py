"""Operations: offline docs, OpenAPI 3.1, migrations (one head, no drift), log scrubbing."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cohortd.config import Settings
from cohortd.db import make_engine
from cohortd.db.migrate import heads, upgrade
from cohortd.db.models import Base
from cohortd.logs import JsonFormatter, scrub
from tests.fixtures.api import ApiHarness

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_is_3_1_and_docs_page_needs_no_internet(api: ApiHarness) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    page = api.client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"url: '([^']+)'", page)
    assert assets, page
    for asset in assets:
        assert asset.startswith("/"), f"external asset {asset}"
    for asset in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css"):
        assert api.client.get(asset).status_code == 200


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"COHORTD_{name.upper()}" in doc, f"COHORTD_{name.upper()} is not documented"


def test_migrations_have_one_head() -> None:
    assert len(heads()) == 1, heads()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_models_and_migrations_do_not_drift(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'drift.sqlite3'}"
    else:
        url = _fresh_pg_database(request)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def _fresh_pg_database(request: pytest.FixtureRequest) -> str:
    import uuid

    import psycopg

    from tests.conftest import POSTGRES_URL

    base = request.getfixturevalue("postgres_database")
    name = f"cohortd_drift_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return base.rsplit("/", 1)[0] + "/" + name


def test_scrub_removes_keys_secrets_and_emails() -> None:
    line = (
        "key rk_live_abcDEF1234567890abcDEF1234567890ab for ann.lee+x@corp.example.com "
        "whsec_Zz9 Bearer abc.def"
    )
    cleaned = scrub(line)
    assert "abcDEF" not in cleaned and "ann.lee" not in cleaned and "whsec_Zz9" not in cleaned
    assert "abc.def" not in cleaned


def test_request_logs_are_json_with_request_id_and_no_key(api: ApiHarness) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("cohortd.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        response = api.client.get("/v1/api_keys?email=someone@example.com", headers=api.headers())
    finally:
        access.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "no access log line"
    record = lines[-1]
    assert record["request_id"] == response.headers["x-request-id"]
    assert record["status"] == 200 and record["org_id"] == api.org_id
    text = stream.getvalue()
    assert api.keys["test"] not in text and "someone@example.com" not in text
