"""docs/import.md stays true: every CLI option and every reason the code can give is there."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from cohortd.cli.imports import fx_import, import_command

DOC = " ".join((Path(__file__).parents[2] / "docs" / "import.md").read_text().split())
SOURCES = Path(__file__).parents[2] / "src" / "cohortd"


def _options(command) -> list[str]:  # type: ignore[no-untyped-def]
    built = typer.main.get_command_from_info(
        typer.models.CommandInfo(callback=command),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    return [
        opt for param in built.params for opt in getattr(param, "opts", []) if opt.startswith("--")
    ]


def test_every_cli_option_is_documented() -> None:
    options = _options(import_command) + _options(fx_import)
    assert options, "no options found"
    missing = [option for option in options if option not in DOC]
    assert missing == []


def test_every_fixed_reason_is_documented() -> None:
    """Each literal reason string in the cell parsers appears in the docs' list."""
    source = (SOURCES / "imports" / "cells.py").read_text()
    reasons = set(
        re.findall(
            r'(?:fail\([^"]*|, )"((?:not|impossible|negative|too|must|more|longer)[^"]*)"', source
        )
    )
    assert reasons, "no reasons found"
    # f-string reasons are checked up to their first placeholder
    missing = sorted(r for r in reasons if r.split(" (")[0].split("{")[0] not in DOC)
    assert missing == []
