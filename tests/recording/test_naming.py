"""The names we give legs and stored files (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from recording.naming import leg_paths, storage_key


def test_leg_names_are_unique_per_token_and_safe_whatever_the_call_id() -> None:
    customer, agent = leg_paths(Path("/spool"), "1700000000.12/../x", "abc")
    assert customer == Path("/spool/1700000000.12_.._x-abc-customer.wav")
    assert agent.parent == Path("/spool") and agent.name.endswith("-agent.wav")
    assert leg_paths(Path("/s"), None, "t")[0].name == "call-t-customer.wav"


def test_storage_key_is_dated_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    assert (
        storage_key(42, datetime(2026, 11, 23, 1, 30, tzinfo=seoul), "ogg") == "2026/11/22/42.ogg"
    )
