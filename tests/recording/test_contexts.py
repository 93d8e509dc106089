"""Routing's word on calls, remembered for a while (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recording.contexts import CallContext, CallContexts

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def context(department_id: int, minutes: float) -> CallContext:
    return CallContext(
        department_id, 100 + department_id, 200 + department_id, T0 + timedelta(minutes=minutes)
    )


def test_the_latest_offer_of_a_call_wins_and_an_ended_call_is_forgotten() -> None:
    contexts = CallContexts()
    contexts.note("a", context(1, 0))
    contexts.note("a", context(2, 1))
    assert contexts.get("a") == context(2, 1)
    contexts.forget("a")
    assert contexts.get("a") is None and len(contexts) == 0


def test_calls_never_seen_ending_here_are_forgotten_by_age_and_by_count() -> None:
    contexts = CallContexts(max_age=timedelta(hours=1), max_size=3)
    contexts.note("old", context(1, 0))
    contexts.note("b", context(1, 30))
    contexts.note("c", context(1, 61))
    assert contexts.get("old") is None and len(contexts) == 2
    contexts.note("d", context(1, 62))
    contexts.note("e", context(1, 63))
    assert [contexts.get(k) is not None for k in "bcde"] == [False, True, True, True]
