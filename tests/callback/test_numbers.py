"""Which numbers the widget may make the company dial (pure)."""

from __future__ import annotations

import pytest

from callback.numbers import NumberRefused, digits, normalise


@pytest.mark.parametrize(
    ("text", "countries", "expected"),
    [
        ("+49 30 901820", ("DE",), "+4930901820"),
        ("030 901820", ("DE",), "+4930901820"),
        ("+49 (151) 2345-6789", (), "+4915123456789"),
        ("+7 916 123-45-67", ("RU", "DE"), "+79161234567"),
    ],
)
def test_callable_numbers_come_out_in_e164(text: str, countries: tuple, expected: str) -> None:
    assert normalise(text, countries) == expected


@pytest.mark.parametrize(
    ("text", "countries", "reason"),
    [
        ("+1 900 555 1234", (), "landline and mobile"),  # premium rate
        ("+49 900 1234567", (), "landline and mobile"),  # premium rate
        ("+44 871 123 4567", (), "landline and mobile"),  # shared cost
        ("112", ("DE",), "does not exist"),  # short number
        ("+49 30", (), "does not exist"),
        ("+7 916 123-45-67", ("DE",), "this country"),
        ("030 901820", ("DE", "AT"), "country code"),  # national, and two countries
        ("call me", ("DE",), "not a phone number"),
        ("", ("DE",), "enter a phone number"),
        ("+" + "1" * 60, (), "enter a phone number"),
    ],
)
def test_numbers_that_cost_or_do_not_exist_are_refused(
    text: str, countries: tuple, reason: str
) -> None:
    with pytest.raises(NumberRefused, match=reason):
        normalise(text, countries)


def test_a_caller_number_without_plus_is_read_in_the_default_region() -> None:
    assert normalise("79161234567", (), "RU") == "+79161234567"
    assert digits("+4930901820") == "4930901820"
