"""docs/python.md stays true: its ``python`` blocks run in order, in one namespace, from
the repository's root (the pictures they save are the doc's). The HTTP client's blocks
meet a real server on 127.0.0.1 serving the data directory the doc's session made."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from cohortd.app import create_app
from cohortd.keys import service as keys
from cohortd.keys.models import Role
from tests.fixtures.api import make_settings
from tests.fixtures.live import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield


def _serve(namespace: dict[str, Any], stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the doc session's data dir; a test-mode key of its organization in the env."""
    app = create_app(make_settings(namespace["data_dir"]), configure_logs=False)
    server = stack.enter_context(LiveServer(app, free_port()))
    with app.state.sessions() as session:
        issued = keys.issue_key(session, org_id=namespace["org"], livemode=False, role=Role.admin)
        session.commit()
    monkeypatch.setenv("COHORTD_URL", server.url)
    monkeypatch.setenv("COHORTD_API_KEY", issued.secret)


def test_the_python_doc_runs(in_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    found = blocks()
    assert len(found) >= 6
    namespace: dict[str, Any] = {"__name__": "python_doc"}
    with ExitStack() as stack:
        for number, code in enumerate(found, start=1):
            if "Client(" in code and "COHORTD_URL" not in os.environ:
                _serve(namespace, stack, monkeypatch)
            try:
                exec(compile(code, f"docs/python.md block {number}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"docs/python.md block {number} failed: {error!r}") from error
    for picture in ("python-heatmap.png", "python-movements.png", "python-curve.png"):
        assert (ROOT / "docs" / "images" / picture).stat().st_size > 10_000
