"""Identities customers reach us by, normalised so that one person is found again. Pure.

Phone numbers (and WhatsApp ids, which are phone numbers) become E.164: ``+`` and 8 to 15
digits. A number without a country code needs the configured default country code; a
national trunk prefix is dropped (``8`` before Russian and Kazakh numbers, ``1`` before
North American ones, ``0`` elsewhere). E-mail addresses are lower-cased. A web-chat
visitor id is the widget's opaque id; a Telegram id is the numeric user id (usernames
can change, ids cannot).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

IdentityKind = Literal["phone", "email", "webchat", "telegram", "whatsapp"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = get_args(IdentityKind)

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_NOISE = re.compile(r"[\s().\-/]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,63}$")
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_TELEGRAM = re.compile(r"^[1-9]\d{0,19}$")
# Country code → (trunk prefix, length of a national number written with it). Where no
# length is given, national numbers never start with the prefix.
_TRUNK_PREFIX: dict[str, tuple[str, int | None]] = {"7": ("8", 11), "1": ("1", 11)}


class InvalidIdentity(ValueError):
    def __init__(self, kind: str, value: str, why: str) -> None:
        super().__init__(f"invalid {kind} {value!r}: {why}")
        self.kind = kind


def normalize_phone(value: str, default_country_code: str = "") -> str:
    raw = _PHONE_NOISE.sub("", value.strip())
    if raw.startswith("+"):
        number = raw
    elif raw.startswith("00"):
        number = "+" + raw[2:]
    elif not raw.isdigit():
        raise InvalidIdentity("phone", value, "only digits, spaces, dashes, dots and ()")
    elif not default_country_code:
        raise InvalidIdentity("phone", value, "no country code (start it with +)")
    else:
        trunk, length = _TRUNK_PREFIX.get(default_country_code, ("0", None))
        has_trunk = raw.startswith(trunk) and (length is None or len(raw) == length)
        national = raw[len(trunk) :] if has_trunk else raw
        number = "+" + default_country_code + national
    if not _E164.match(number):
        raise InvalidIdentity("phone", value, "not a phone number in E.164 (+ and 8-15 digits)")
    return number


def normalize(kind: str, value: str, default_country_code: str = "") -> str:
    """``value`` as stored for ``kind``; raises :class:`InvalidIdentity`."""
    if kind == "phone":
        return normalize_phone(value, default_country_code)
    if kind == "whatsapp":
        digits = value.strip()
        # WhatsApp's wa_id is the number without the plus.
        return normalize_phone(digits if digits.startswith("+") else "+" + digits)
    if kind == "email":
        address = value.strip().lower()
        if len(address) > 254 or not _EMAIL.match(address):
            raise InvalidIdentity(kind, value, "not an e-mail address")
        return address
    if kind == "webchat":
        visitor = value.strip()
        if not _VISITOR.match(visitor):
            raise InvalidIdentity(kind, value, "1-128 letters, digits, '_' or '-'")
        return visitor
    if kind == "telegram":
        user_id = value.strip()
        if not _TELEGRAM.match(user_id):
            raise InvalidIdentity(kind, value, "a numeric Telegram user id")
        return user_id
    raise InvalidIdentity(kind, value, f"kind must be one of {', '.join(IDENTITY_KINDS)}")
