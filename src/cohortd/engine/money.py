"""ISO 4217 currencies, their minor-unit exponents, and exact conversions to minor units."""

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

CENT: Final = Decimal("0.01")


class MoneyError(ValueError):
    """A money value that cannot be stored exactly (raised by the parsers, mapped to row errors)."""


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 code in upper case."""
    return code in CURRENCY_EXPONENTS


def exponent(currency: str) -> int:
    """The ISO 4217 minor-unit exponent (JPY 0, USD 2, KWD 3)."""
    try:
        return CURRENCY_EXPONENTS[currency]
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
