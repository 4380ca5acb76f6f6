"""One real server for the reliability tests: uvicorn on 127.0.0.1 (a free port), its
JSON logs captured in a file, and one organization seeded through the public API as a
user would (the small worked example imported, cohorts, a motion, a snapshot run and a
key of each role), so that operations which need existing ids reach their logic."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cohortd.app import create_app
from cohortd.logs import JsonFormatter
from tests.fixtures.api import make_settings, new_org
from tests.fixtures.live import LiveServer, free_port

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "examples" / "small"


@dataclass
class Seeded:
    """The server, its log file, and the seeded organization's keys and ids."""

    url: str
    log_file: Path
    org_id: str
    keys: dict[str, str]  # role -> secret (test mode); "live" -> an admin live key
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}

    def client(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(role), timeout=60)


def _finished(api: Any, path: str) -> dict[str, Any]:
    """The job at ``path`` once it succeeded or failed (a minute at most)."""
    for _ in range(600):
        found = _ok(api.get(path), 200)
        if found["status"] in ("succeeded", "failed"):
            return found
        time.sleep(0.1)
    return found


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


def _seed(server: LiveServer, app: Any, log_file: Path) -> Seeded:
    harness = new_org(app, base_currency="USD", name="Fuzzed Org")
    seeded = Seeded(server.url, log_file, harness.org_id, {"admin": harness.keys["test"]})
    seeded.keys["live"] = harness.keys["live"]
    with seeded.client() as api:
        for role in ("developer", "viewer"):
            seeded.keys[role] = _ok(api.post("/v1/api_keys", json={"role": role}), 201)["secret"]
        spare = _ok(api.post("/v1/api_keys", json={"role": "viewer"}), 201)
        seeded.ids["key_id"] = spare["id"]  # revoked and rotated by the fuzzer, never used
        files = {
            kind: (f"{name}.csv", (SMALL / f"{name}.csv").read_bytes())
            for kind, name in (
                ("customers", "customers"),
                ("subscriptions", "subscriptions"),
                ("exchange_rates", "fx_rates"),
            )
        }
        job = _ok(api.post("/v1/imports", files=files), 202)
        done = _finished(api, f"/v1/imports/{job['id']}")
        assert done["status"] == "succeeded", done
        seeded.ids["import_id"] = job["id"]
        members = {"name": "Enterprise", "definition": {"sizes": ["1001+"]}}
        cohort = _ok(api.post("/v1/cohorts", json=members), 201)
        seeded.ids["cohort_id"] = cohort["id"]
        spare_cohort = _ok(api.post("/v1/cohorts", json={"name": "Spare", "definition": {}}), 201)
        seeded.ids["spare_cohort_id"] = spare_cohort["id"]  # deleted by the fuzzer
        motion = {"type": "winback", "cohort_id": cohort["id"], "name": "Win back"}
        seeded.ids["motion_id"] = _ok(api.post("/v1/motions", json=motion), 201)["id"]
        run = _ok(api.post("/v1/snapshots/run"), 202)  # a job: wait for its end
        run = _finished(api, f"/v1/snapshots/runs/{run['id']}")
        assert run["status"] == "succeeded", run
        seeded.ids["run_id"] = run["id"]
        hook = {"url": "http://127.0.0.1:9/hooks", "description": "nobody listens"}
        seeded.ids["destination_id"] = _ok(api.post("/v1/destinations", json=hook), 201)["id"]
        events = _ok(api.get("/v1/events", params={"limit": 1}), 200)["data"]
        seeded.ids["event_id"] = events[0]["id"]
        subscribers = _ok(api.get("/v1/subscribers", params={"limit": 1}), 200)["data"]
        seeded.ids["subscriber_id"] = subscribers[0]["id"]
        seeded.ids["subscription_id"] = "sub_000000002"
    return seeded


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The session's one fuzzed server (SQLite control plane, DuckDB data plane)."""
    folder = tmp_path_factory.mktemp("fuzzed")
    log_file = folder / "server.log"
    app = create_app(make_settings(folder), configure_logs=False)
    root = logging.getLogger()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(JsonFormatter())  # the server's own format, as ops would ship it
    handler.setLevel(logging.INFO)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with LiveServer(app, free_port()) as server:
            yield _seed(server, app, log_file)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
