"""When raw legs nobody finished count as finished (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recording.recovery import abandoned_end

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_legs_that_stopped_growing_long_enough_ago_count_as_finished_then() -> None:
    last = (T0 - timedelta(minutes=20)).timestamp()
    earlier = (T0 - timedelta(minutes=30)).timestamp()
    assert abandoned_end(
        [earlier, last], T0 - timedelta(hours=1), T0, 600
    ) == datetime.fromtimestamp(last, UTC)


def test_legs_still_growing_belong_to_a_live_call() -> None:
    recent = (T0 - timedelta(seconds=5)).timestamp()
    old = (T0 - timedelta(hours=1)).timestamp()
    assert abandoned_end([old, recent], T0 - timedelta(hours=1), T0, 600) is None


def test_legs_that_never_appeared_count_from_registration() -> None:
    assert abandoned_end([None, None], T0 - timedelta(seconds=60), T0, 600) is None
    assert abandoned_end([None, None], T0 - timedelta(hours=1), T0, 600) == T0 - timedelta(hours=1)
