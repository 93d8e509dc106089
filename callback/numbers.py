"""Which numbers the company may be made to dial. Pure.

A widget is a public form: whatever it accepts, the company pays to call. Only numbers
``phonenumbers`` holds valid, of a type a person answers (fixed line, mobile), in a
country the site serves, pass — premium-rate, shared-cost, short and impossible
numbers never reach the trunk.
"""

from __future__ import annotations

from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType

_CALLABLE = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)
_MAX_INPUT = 40


class NumberRefused(ValueError):
    """Not a number we call; the message is for the visitor."""


def normalise(text: str, countries: Collection[str], default_region: str | None = None) -> str:
    """The E.164 form of ``text`` (``+4930123456``), or :class:`NumberRefused`.

    ``countries``: the allowed countries (empty: any). A number without "+" is read in
    ``default_region``, else in the only allowed country, else refused.
    """
    text = text.strip()
    if not text or len(text) > _MAX_INPUT:
        raise NumberRefused("enter a phone number")
    region = default_region or (next(iter(countries)) if len(countries) == 1 else None)
    if not text.startswith("+") and region is None:
        raise NumberRefused("enter the number with its country code, starting with +")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise NumberRefused("this is not a phone number") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise NumberRefused("this phone number does not exist")
    country = phonenumbers.region_code_for_number(number)
    if countries and country not in countries:
        raise NumberRefused("we do not call numbers in this country")
    kind = phonenumbers.number_type(number)
    if kind not in _CALLABLE:
        raise NumberRefused("we only call landline and mobile numbers")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def digits(e164: str) -> str:
    """``+4930123456`` → ``4930123456``: what the dialplan's ``[outbound]`` takes."""
    return e164.lstrip("+")
