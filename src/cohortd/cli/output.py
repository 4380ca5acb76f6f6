"""Shared CLI output: JSON for machines, Rich for people."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def emit_json(payload: Any) -> None:
    """Print JSON on stdout, nothing else (for ``--json``)."""
    print(json.dumps(payload, indent=2, default=str))
