"""The fuzz suite: Schemathesis against the real server of ``conftest.seeded``.

Every operation of the OpenAPI document, its examples phase and its fuzzing phase of
``COHORTD_FUZZ_EXAMPLES`` generated cases (50 by default; docs/reliability.md). Checks: no
5xx, every response conforms to its documented schema, status code and content type,
and every 4xx is RFC 9457 problem+json (``problem_json_on_4xx``). Path ids come from
the seeded organization so that operations reach their logic.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cohortd.app import create_app
from tests.fixtures.api import make_settings
from tests.reliability.conftest import Seeded

FUZZ_EXAMPLES = int(os.environ.get("COHORTD_FUZZ_EXAMPLES", "50"))


def problem_json_on_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is ``application/problem+json`` with RFC 9457's members and its own status."""
    if not 400 <= response.status_code < 500:
        return None
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    assert media.split(";")[0].strip() == "application/problem+json", (
        f"{response.status_code} answered as {media!r}"
    )
    body = response.json()
    assert isinstance(body, dict), "a problem is a JSON object"
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"problem without {sorted(missing)}"
    assert body["status"] == response.status_code, "problem status differs from the answer's"
    return None


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    problem_json_on_4xx,
]


@pytest.fixture(scope="session")
def fuzz_schema(seeded: Seeded) -> Any:
    spec = httpx.get(f"{seeded.url}/openapi.json", timeout=30).json()
    ids = seeded.ids
    config = SchemathesisConfig.from_dict(
        {
            "base-url": seeded.url,
            "headers": {"Authorization": f"Bearer {seeded.keys['admin']}"},
            "request-timeout": 30,
            "generation": {"max-examples": FUZZ_EXAMPLES},
            "phases": {
                "examples": {"enabled": True},
                "fuzzing": {"enabled": True},
                "coverage": {"enabled": False},
                "stateful": {"enabled": False},
            },
            "parameters": {
                "path.cohort_id": ids["cohort_id"],
                "path.motion_id": ids["motion_id"],
                "path.subscriber_id": ids["subscriber_id"],
                "path.subscription_id": ids["subscription_id"],
                "path.import_id": ids["import_id"],
                "path.key_id": ids["key_id"],
                "path.run_id": ids["run_id"],
                "path.destination_id": ids["destination_id"],
                "path.event_id": ids["event_id"],
            },
            "operations": [
                {
                    "include-name": "DELETE /v1/cohorts/{cohort_id}",
                    "parameters": {"path.cohort_id": ids["spare_cohort_id"]},
                }
            ],
        }
    )
    return schemathesis.openapi.from_dict(spec, config=config)


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document (the app's own, built without a server)."""
    with tempfile.TemporaryDirectory() as folder:
        spec = create_app(make_settings(Path(folder)), configure_logs=False).openapi()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]


OPERATIONS = _operations()
CASES: Counter[str] = Counter()  # cases sent per operation (docs/reliability.md's figures)


@pytest.mark.timeout(900)  # one operation's 2 x COHORTD_FUZZ_EXAMPLES cases, on a busy machine
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation(fuzz_schema: Any, method: str, path: str) -> None:
    operation = fuzz_schema[path][method.lower()]
    label = f"{method} {path}"

    def one_case(case: Any) -> None:
        CASES[label] += 1
        case.call_and_validate(checks=CHECKS)

    test = build_operation_test(
        config=fuzz_schema.config,
        operation=operation,
        test_func=one_case,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # the same cases on every run, so CI is reproducible; the long run
            # (COHORTD_FUZZ_EXAMPLES) explores further along the same sequence
            derandomize=True,
        ),
    )
    try:
        test()
    except FailureGroup as failures:
        raise as_reported_failure(failures) from None
    assert CASES[label] > 0
