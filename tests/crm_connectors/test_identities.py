"""Identities normalised so that one person reached twice is found again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_connectors.identities import InvalidIdentity, normalize, normalize_phone


@pytest.mark.parametrize(
    ("written", "country", "e164"),
    [
        ("+7 (912) 345-67-89", "", "+79123456789"),
        ("8 912 345 67 89", "7", "+79123456789"),
        ("9123456789", "7", "+79123456789"),
        ("8 800 555 35 35", "7", "+78005553535"),
        ("0049 30 1234567", "", "+49301234567"),
        ("030 1234567", "49", "+49301234567"),
        ("(212) 555-0100", "1", "+12125550100"),
        ("1-212-555-0100", "1", "+12125550100"),
    ],
)
def test_phone_numbers_become_e164(written: str, country: str, e164: str) -> None:
    assert normalize_phone(written, country) == e164


@pytest.mark.parametrize(
    ("written", "country"),
    [("912 345 67 89", ""), ("+7 912 abc", ""), ("+0123456789", ""), ("+12", "")],
)
def test_what_is_not_a_phone_number_is_refused(written: str, country: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalize_phone(written, country)


@given(st.from_regex(r"\A\+[1-9][0-9]{7,14}\Z"))
def test_an_e164_number_stays_as_it_is_however_it_is_spaced(number: str) -> None:
    spaced = number[:3] + " " + number[3:6] + "-" + number[6:]
    assert normalize_phone(spaced) == number
    assert normalize_phone("00" + number[1:]) == number


def test_other_identities() -> None:
    assert normalize("email", "  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalize("whatsapp", "4915112345678") == "+4915112345678"
    assert normalize("telegram", "123456789") == "123456789"
    assert normalize("webchat", "v-3f2a_9") == "v-3f2a_9"
    for kind, value in [
        ("email", "ann@"),
        ("telegram", "@ann"),
        ("webchat", "a b"),
        ("fax", "1"),
    ]:
        with pytest.raises(InvalidIdentity):
            normalize(kind, value)
