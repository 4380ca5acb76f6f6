"""ISO 4217 currencies, their minor-unit exponents, and exact conversions to minor units.

Three sets of codes, from the strictest:

- ``CURRENCY_EXPONENTS``: the active ISO 4217 codes (List One). An organization's base
  currency and a report's ``baseCurrency`` are one of these.
- ``BILLING_EXPONENTS``: the active codes plus the ECB's retired series (``ECB_RETIRED``:
  CYP, EEK, LTL, ...), whose rates ship with cohortd and so exist in every scope. A
  customer's or a subscription's currency is one of these; ``exponent`` knows them all.
- ``RATE_CURRENCIES``: every ISO 4217 code, active or historic (List Three). An exchange
  rate may name any of them: a rate for a currency nobody bills in is harmless.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

# ISO 4217 active codes with non-default exponents; every other listed code has 2.
_EXPONENT_0: Final = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_EXPONENT_3: Final = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4: Final = frozenset("CLF UYW".split())
_EXPONENT_2: Final = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
    KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
    NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST
    XCD XCG YER ZAR ZMW ZWG ZWL""".split()
)

CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    **{code: 2 for code in _EXPONENT_2},
    **{code: 0 for code in _EXPONENT_0},
    **{code: 3 for code in _EXPONENT_3},
    **{code: 4 for code in _EXPONENT_4},
}

# The series the ECB published and retired (the euro or a redenomination replaced them),
# with the minor unit ISO 4217 gave each while it was current.
ECB_RETIRED: Final[dict[str, int]] = {
    "CYP": 2,  # Cyprus pound, euro 2008
    "EEK": 2,  # Estonian kroon, euro 2011
    "LTL": 2,  # Lithuanian litas, euro 2015
    "LVL": 2,  # Latvian lats, euro 2014
    "MTL": 2,  # Maltese lira, euro 2008
    "ROL": 2,  # Romanian leu, RON 2005
    "SIT": 2,  # Slovenian tolar, euro 2007
    "SKK": 2,  # Slovak koruna, euro 2009
    "TRL": 0,  # Turkish lira, TRY 2005
}

BILLING_EXPONENTS: Final[dict[str, int]] = {**CURRENCY_EXPONENTS, **ECB_RETIRED}

# ISO 4217 List Three: historic denominations (alphabetic codes), the ECB's retired
# series among them.
ISO_HISTORIC: Final = frozenset(
    """ADP AFA ALK AOK AON AOR ARA ARP ARY ATS AYM AZM BAD BEC BEF BEL BGJ BGK BGL BOP BRB
    BRC BRE BRN BRR BUK BYB BYR CHC CSD CSJ CSK CYP DDM DEM ECS ECV EEK ESA ESB ESP FIM FRF
    GEK GHC GHP GNE GNS GQE GRD GWE GWP HRD IEP ILP ILR ISJ ITL LAJ LSM LTL LTT LUC LUF
    LUL LVL LVR MGF MLF MRO MTL MTP MVQ MXP MZE MZM NIC NLG PEH PEI PES PLZ PTE RHD ROK ROL
    RUR SDD SDP SIT SKK SRG STD SUR TJR TMM TPE TRL UAK UGS UGW USS UYN UYP VEB VEF VNC XEU
    XFO XFU XRE YDD YUD YUM YUN ZAL ZMK ZRN ZRZ ZWC ZWD ZWN ZWR""".split()
)

RATE_CURRENCIES: Final = frozenset(CURRENCY_EXPONENTS) | ISO_HISTORIC

CENT: Final = Decimal("0.01")


class MoneyError(ValueError):
    """A money value that cannot be stored exactly (raised by the parsers, mapped to row errors)."""


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 code in upper case."""
    return code in CURRENCY_EXPONENTS


def is_billing_currency(code: str) -> bool:
    """True for a code a customer or subscription may bill in (``BILLING_EXPONENTS``)."""
    return code in BILLING_EXPONENTS


def is_rate_currency(code: str) -> bool:
    """True for any ISO 4217 code, active or historic, in upper case."""
    return code in RATE_CURRENCIES


def exponent(currency: str) -> int:
    """The ISO 4217 minor-unit exponent (JPY 0, USD 2, KWD 3; LTL 2, TRL 0)."""
    try:
        return BILLING_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def to_minor_units(amount: str | Decimal, currency: str) -> int:
    """Parse a major-unit amount exactly; more decimals than the currency allows is an error."""
    try:
        value = Decimal(amount) if isinstance(amount, str) else amount
    except InvalidOperation:
        raise MoneyError(f"{amount!r} is not a decimal number") from None
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} allows at most {exponent(currency)} decimals")
    return int(scaled)


def from_minor_units(minor: int, currency: str) -> Decimal:
    """The exact major-unit Decimal for stored minor units."""
    return Decimal(minor).scaleb(-exponent(currency))


def round_half_away(value: Decimal | float | int, places: Decimal = CENT) -> Decimal:
    """Round to ``places`` half away from zero; floats go through their shortest repr."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return exact.quantize(places, rounding=ROUND_HALF_UP)
