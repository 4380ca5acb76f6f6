"""Region slugs for the report's ``region`` filter (SPEC §2).

Data: ``cohortd/data/regions.json``, the UN M49 geographic regions (``europe``,
``asia``, ``africa``, ``oceania``, ``americas``), sub-regions (``western_europe``,
``south_eastern_asia``, ``northern_america``, ...) and intermediate regions
(``caribbean``, ``south_america``, ``channel_islands``, ...) for every ISO 3166-1
alpha-2 code, plus the business regions ``eu``, ``emea``, ``apac``, ``latam``,
``north_america``, ``dach`` and ``nordics``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any


class UnknownRegion(ValueError):
    """A ``region`` token that is neither an ISO 3166-1 alpha-2 code nor a known slug."""

    def __init__(self, token: str) -> None:
        super().__init__(f"unknown region or country code {token!r}")
        self.token = token


@cache
def _data() -> dict[str, Any]:
    text = resources.files("cohortd.data").joinpath("regions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def countries() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code (upper case)."""
    return frozenset(_data()["countries"])


@cache
def slugs() -> dict[str, frozenset[str]]:
    """Each region slug and the country codes it holds."""
    data = _data()
    merged = {**data["m49_regions"], **data["business_regions"]}
    return {slug: frozenset(codes) for slug, codes in merged.items()}


def region_of(country: str) -> dict[str, str | None]:
    """The M49 region, sub-region and intermediate region of one country code."""
    return dict(_data()["countries"][country.upper()])


def expand(tokens: Iterable[str]) -> frozenset[str]:
    """The country codes matched by ``tokens`` (codes and slugs, any case; OR-ed).

    Raises ``UnknownRegion`` for the first token that is neither.
    """
    known = countries()
    matched: set[str] = set()
    for token in tokens:
        slug = token.strip().lower()
        if slug in slugs():
            matched |= slugs()[slug]
        elif slug.upper() in known:
            matched.add(slug.upper())
        else:
            raise UnknownRegion(token)
    return frozenset(matched)
