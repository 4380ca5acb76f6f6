"""One real server on 127.0.0.1 (a free port) for the client tests, with the small
example loaded into a fresh organization's test mode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cohortd.app import create_app
from cohortd.keys.models import Role
from cohortd.warehouse import Scope
from tests.fixtures import example_small
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer, free_port


@dataclass
class Served:
    url: str
    harness: ApiHarness

    @property
    def key(self) -> str:
        """The organization's test-mode admin key."""
        return self.harness.keys["test"]

    def new_key(self, role: Role) -> str:
        return self.harness.new_key(role)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    app = create_app(make_settings(tmp_path_factory.mktemp("client")), configure_logs=False)
    with LiveServer(app, free_port()) as server:
        harness = new_org(app, base_currency=example_small.base_currency())
        example_small.load(
            harness.warehouse,
            Scope(org_id=harness.org_id, livemode=False),
            example_small.small_dataset(),
        )
        yield Served(url=server.url, harness=harness)
