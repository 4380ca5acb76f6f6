"""The Webhooks page in a real browser: add a destination (secret shown once), send a
test event that a real receiver verifies, see the delivery, replay, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from tests.web.conftest import Dashboard, sign_in
from tests.webhooks.receiver import Receiver, start_receiver

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_webhooks_page(page: Page, dashboard: Dashboard, receiver: Receiver) -> None:
    sign_in(page, dashboard, next="/app/webhooks")
    page.get_by_role("link", name="Webhooks").click()
    # bad input: the reason is shown and nothing is stored
    page.get_by_label("URL").fill("http://169.254.169.254/latest")
    page.get_by_role("button", name="Add destination").click()
    expect(page.get_by_test_id("webhook-problem")).to_contain_text("cloud-metadata")
    assert dashboard.api("/v1/destinations")["data"] == []
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Event types").fill("destination.test")
    page.get_by_role("button", name="Add destination").click()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.goto(dashboard.url + "/app/webhooks")
    assert secret not in page.content()  # shown once, never again
    page.get_by_role("button", name=f"Send a test event to {receiver.url}").click()
    [request] = receiver.wait_for(1)
    Webhook(secret).verify(request.body, request.headers)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page.goto(dashboard.url + "/app/webhooks")
        if page.locator("table.deliveries tr[data-status='succeeded']").count():
            break
        time.sleep(0.3)
    row = page.locator("table.deliveries tr[data-status='succeeded']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("200")
    # replay the last hour, already delivered ones too: the same event again
    now = datetime.now(UTC)
    page.get_by_label("Replay from (UTC)").fill(
        (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_label("to (UTC)").fill((now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("also events already delivered").check()
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_test_id("webhook-notice")).to_contain_text("1 events queued")
    again = receiver.wait_for(2)
    assert again[1].body == again[0].body
    assert again[1].headers["webhook-id"] == again[0].headers["webhook-id"]
