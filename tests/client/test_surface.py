"""The client's shape: it covers every operation the server serves, it imports nothing
from the server, and its sync twin is the generated one."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cohortd.app import create_app
from cohortd.client import OPERATIONS
from tests.fixtures.api import make_settings

CLIENT = Path(__file__).resolve().parents[2] / "src" / "cohortd" / "client"
sys.path.insert(0, str(CLIENT.parents[2] / "scripts"))
import unasync_client  # noqa: E402

PARAMETER = re.compile(r"\{[^}]*\}")

# SPEC §7-§9 operations that other parts of the API add: the client has them already
SPEC_OPERATIONS = [
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("POST", "/v1/destinations"),
    ("GET", "/v1/destinations"),
    ("GET", "/v1/destinations/{id}"),
    ("PATCH", "/v1/destinations/{id}"),
    ("DELETE", "/v1/destinations/{id}"),
    ("POST", "/v1/destinations/{id}/rotate_secret"),
    ("POST", "/v1/destinations/{id}/test"),
    ("GET", "/v1/destinations/{id}/deliveries"),
    ("POST", "/v1/replay"),
    ("GET", "/v1/replay/{id}"),
    ("GET", "/v1/metrics"),
    ("GET", "/v1/metrics/{metric}"),
    ("POST", "/v1/subscribers"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/subscriptions/{id}/cancel"),
    ("POST", "/v1/subscriptions/{id}/change_plan"),
    ("POST", "/v1/subscriptions/{id}/pause"),
    ("POST", "/v1/subscriptions/{id}/resume"),
    ("GET", "/v1/snapshots/runs"),
    ("GET", "/v1/snapshots/runs/{id}"),
]


def _shape(method: str, path: str) -> tuple[str, str]:
    """An operation with its path parameters unnamed (``{cohort_id}`` = ``{id}``)."""
    return method.upper(), PARAMETER.sub("{}", path)


def _served_operations(tmp_path: Path) -> set[tuple[str, str]]:
    schema = create_app(make_settings(tmp_path), configure_logs=False).openapi()
    return {
        _shape(method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _covered(flavor: str) -> set[tuple[str, str]]:
    return {
        _shape(*operation)
        for module, table in OPERATIONS.items()
        if module.rsplit(".", 1)[-1].startswith(flavor)
        for operation in table
    }


@pytest.mark.parametrize("flavor", ["_async_", "_sync_"])
def test_every_operation_of_openapi_has_a_client_method(tmp_path: Path, flavor: str) -> None:
    missing = _served_operations(tmp_path) - _covered(flavor)
    assert not missing, f"operations without a client method: {sorted(missing)}"


@pytest.mark.parametrize("flavor", ["_async_", "_sync_"])
def test_the_spec_operations_still_to_be_served_have_methods(flavor: str) -> None:
    missing = {_shape(*operation) for operation in SPEC_OPERATIONS} - _covered(flavor)
    assert not missing


def test_the_client_package_imports_nothing_from_the_server() -> None:
    offenders = []
    for path in sorted(CLIENT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level:
                offenders.append(f"{path.name}: relative import")
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if (name == "cohortd" or name.startswith("cohortd."))
                and not (name == "cohortd.client" or name.startswith("cohortd.client."))
            ]
    assert offenders == []


def test_importing_the_client_loads_no_server_module() -> None:
    code = (
        "import sys, cohortd\n"
        "client = cohortd.Client\n"
        "from cohortd.client import AsyncClient, models, errors\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('cohortd'))\n"
        "print('\\n'.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    server_side = [
        name
        for name in out.stdout.split()
        if name not in ("cohortd", "cohortd.client") and not name.startswith("cohortd.client.")
    ]
    assert server_side == []
    for heavy in ("fastapi", "sqlalchemy", "ibis"):
        assert f"\n{heavy}" not in out.stdout


def test_the_sync_client_is_the_generated_one(tmp_path: Path) -> None:
    for path in unasync_client.write(tmp_path):
        committed = CLIENT / path.name
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{path.name} is stale: run `scripts/uv.sh run python scripts/unasync_client.py`"
        )


def test_py_typed_ships_with_the_package() -> None:
    spec = importlib.util.find_spec("cohortd")
    assert spec is not None and spec.origin is not None
    assert (Path(spec.origin).parent / "py.typed").is_file()
