"""Region slugs: UN M49 regions and sub-regions plus business regions (SPEC §2)."""

from __future__ import annotations

import pytest

from cohortd.engine.regions import UnknownRegion, countries, expand, region_of, slugs


def test_every_iso_country_is_listed() -> None:
    # ISO 3166-1 has 249 alpha-2 codes
    assert len(countries()) == 249
    assert {"US", "DE", "JP", "BR", "ZA", "AU", "TW", "XK"} & countries() == {
        "US",
        "DE",
        "JP",
        "BR",
        "ZA",
        "AU",
        "TW",
    }


@pytest.mark.parametrize(
    ("country", "region", "sub_region"),
    [
        ("DE", "europe", "western_europe"),
        ("GB", "europe", "northern_europe"),
        ("PL", "europe", "eastern_europe"),
        ("IT", "europe", "southern_europe"),
        ("CY", "asia", "western_asia"),
        ("TR", "asia", "western_asia"),
        ("JP", "asia", "eastern_asia"),
        ("SG", "asia", "south_eastern_asia"),
        ("IN", "asia", "southern_asia"),
        ("KZ", "asia", "central_asia"),
        ("US", "americas", "northern_america"),
        ("MX", "americas", "latin_america_and_the_caribbean"),
        ("BR", "americas", "latin_america_and_the_caribbean"),
        ("EG", "africa", "northern_africa"),
        ("ZA", "africa", "sub_saharan_africa"),
        ("NZ", "oceania", "australia_and_new_zealand"),
        ("FJ", "oceania", "melanesia"),
    ],
)
def test_well_known_countries(country: str, region: str, sub_region: str) -> None:
    assert region_of(country)["region"] == region
    assert region_of(country)["sub_region"] == sub_region


def test_cyprus_and_turkey_are_not_in_europe_but_cyprus_is_in_the_eu() -> None:
    assert "CY" not in slugs()["europe"] and "TR" not in slugs()["europe"]
    assert "CY" in slugs()["eu"] and "TR" not in slugs()["eu"]
    assert {"CY", "TR"} <= slugs()["emea"]


def test_business_regions() -> None:
    assert len(slugs()["eu"]) == 27
    assert slugs()["north_america"] == {"US", "CA", "BM", "GL", "PM"}
    assert slugs()["dach"] == {"DE", "AT", "CH"}
    assert slugs()["nordics"] == {"DK", "FI", "IS", "NO", "SE"}
    assert "MX" in slugs()["latam"] and "US" not in slugs()["latam"]
    # apac = Asia without Western Asia, plus Oceania
    assert {"JP", "IN", "AU", "NZ", "SG"} <= slugs()["apac"]
    assert not {"AE", "IL", "TR"} & slugs()["apac"]
    # emea = Europe + Africa + Western Asia
    assert {"DE", "ZA", "AE", "IL"} <= slugs()["emea"] and "IN" not in slugs()["emea"]
    assert "GB" not in slugs()["eu"]


def test_expand_mixes_codes_and_slugs_case_insensitively() -> None:
    assert expand(["DACH", "jp"]) == {"DE", "AT", "CH", "JP"}
    assert expand(["nordics", "Ie"]) == {"DK", "FI", "IS", "NO", "SE", "IE"}


def test_unknown_token_is_named() -> None:
    with pytest.raises(UnknownRegion) as raised:
        expand(["europe", "atlantis"])
    assert raised.value.token == "atlantis"
