"""Queue order: channel priority and interaction priority as a head start; aging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from routing.models import CHANNELS
from routing.priority import channel_steps, head_start, max_head_start, rank_time

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ORDER = ("voice", "callback", "webchat", "telegram", "whatsapp", "sms", "email")
offsets = st.floats(0, 10_000, allow_nan=False)
priorities = st.integers(0, 10)
channels = st.sampled_from(CHANNELS)


def test_the_first_channel_of_the_order_gets_the_longest_head_start() -> None:
    assert channel_steps("voice", ORDER) == 7
    assert channel_steps("email", ORDER) == 1
    assert channel_steps("email", ("voice",)) == 0
    assert head_start("voice", 0, ORDER, 30) == timedelta(seconds=210)
    assert head_start("email", 2, ORDER, 30) == timedelta(seconds=90)


@given(channels, priorities, offsets, offsets)
def test_of_two_alike_the_earlier_arrival_ranks_first(
    channel: str, priority: int, a: float, b: float
) -> None:
    first = rank_time(T0 + timedelta(seconds=min(a, b)), channel, priority, ORDER, 30)  # type: ignore[arg-type]
    second = rank_time(T0 + timedelta(seconds=max(a, b)), channel, priority, ORDER, 30)  # type: ignore[arg-type]
    assert first <= second


@given(channels, priorities, priorities, offsets)
def test_at_the_same_moment_more_priority_never_ranks_later(
    channel: str, p1: int, p2: int, offset: float
) -> None:
    at = T0 + timedelta(seconds=offset)
    low, high = sorted((p1, p2))
    assert rank_time(at, channel, high, ORDER, 30) <= rank_time(at, channel, low, ORDER, 30)  # type: ignore[arg-type]


@given(channels, channels, priorities, priorities, offsets, st.floats(0.001, 1e6))
def test_nothing_starves_everything_arriving_after_the_bound_ranks_behind(
    waiting_channel: str,
    later_channel: str,
    waiting_priority: int,
    later_priority: int,
    arrived: float,
    after_bound: float,
) -> None:
    """Aging: an interaction is served before anything that arrives more than the largest
    head start after it, whatever its channel and priority."""
    bound = max_head_start(ORDER, 10, 30)
    waiting_since = T0 + timedelta(seconds=arrived)
    later = waiting_since + bound + timedelta(seconds=after_bound)
    assert rank_time(waiting_since, waiting_channel, waiting_priority, ORDER, 30) < rank_time(  # type: ignore[arg-type]
        later,
        later_channel,
        later_priority,
        ORDER,
        30,  # type: ignore[arg-type]
    )
