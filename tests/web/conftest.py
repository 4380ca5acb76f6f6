"""Browser tests: a real uvicorn server, Debian's chromium driven by Playwright, and one
organization loaded with demo data through the import pipeline (as a user would).

One server and one browser per module; SQLite control plane + DuckDB data plane (the
PostgreSQL paths of the same services are covered by their own API tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from cohortd.app import create_app
from cohortd.demo import DemoConfig, write_demo_data
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.warehouse import Scope
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The demo data ends here and every report is asked "as of" REPORT_DATE, so the
# triangle does not change with the day the tests run (and its last month is incomplete).
DEMO_END = date(2026, 6, 30)
REPORT_DATE = "2026-06-15"


@dataclass
class Dashboard:
    """The live server, its organization, and helpers to ask the API the same question."""

    server: LiveServer
    harness: ApiHarness

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str, *, mode: str = "test", **params: str) -> Any:
        response = httpx.get(
            self.url + path, params=params, headers=self.harness.headers(mode), timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()


def _load_demo(harness: ApiHarness, folder: Path) -> None:
    files = write_demo_data(
        folder, DemoConfig(customers=120, seed=7, start=date(2025, 1, 1), end=DEMO_END)
    )
    outcome = run_import(
        harness.warehouse,
        Scope(org_id=harness.org_id, livemode=False),
        [
            ImportSource(ImportKind.customers, files.customers_path, "customers.csv"),
            ImportSource(ImportKind.subscriptions, files.subscriptions_path, "subscriptions.csv"),
        ],
    )
    assert outcome.succeeded, outcome.problems


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp = tmp_path_factory.mktemp("web")
    app = create_app(make_settings(tmp), configure_logs=False)
    with LiveServer(app, free_port()) as server:
        harness = new_org(app)
        _load_demo(harness, tmp / "demo")
        yield Dashboard(server=server, harness=harness)


def _ensure_chromium() -> None:
    if not Path(CHROMIUM).exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-chromium.sh")], check=False)
    assert Path(CHROMIUM).exists(), "Debian's chromium is required: scripts/ensure-chromium.sh"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, dashboard: Dashboard, *, key: str | None = None, next: str = "") -> None:
    """Sign in through the form, as a person would."""
    page.goto(dashboard.url + "/app/sign-in" + (f"?next={quote(next)}" if next else ""))
    page.get_by_label("API key").fill(key or dashboard.harness.keys["test"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot as a test artifact; copy it into the docs when it is
    new there or when ``COHORTD_UPDATE_DOC_SCREENSHOTS=1`` (``make screenshots``), so an
    ordinary test run leaves the tree clean."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    documented = DOCS_SHOTS / target.name
    if os.environ.get("COHORTD_UPDATE_DOC_SCREENSHOTS") == "1" or not documented.exists():
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, documented)
