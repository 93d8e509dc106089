"""Queue order: channel priority and interaction priority as a head start in time.

Every waiting interaction ages at the same rate, so "priority plus waited time" orders
the queue exactly like ``enqueued_at - head_start``: the rank time. It never changes
while the interaction waits, which lets PostgreSQL keep the queue in an index, and it
makes starvation impossible: an interaction is served before everything that arrived
more than the largest head start after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .models import Channel


def channel_steps(channel: Channel, order: Sequence[Channel]) -> int:
    """Steps of head start: the first of ``order`` gets ``len(order)``, the last 1, others 0."""
    try:
        return len(order) - order.index(channel)
    except ValueError:
        return 0


def head_start(
    channel: Channel, priority: int, order: Sequence[Channel], step_s: float
) -> timedelta:
    """How much earlier than its arrival an interaction is ranked."""
    return timedelta(seconds=(channel_steps(channel, order) + priority) * step_s)


def rank_time(
    enqueued_at: datetime,
    channel: Channel,
    priority: int,
    order: Sequence[Channel],
    step_s: float,
) -> datetime:
    return enqueued_at - head_start(channel, priority, order, step_s)


def max_head_start(order: Sequence[Channel], max_priority: int, step_s: float) -> timedelta:
    """The longest anything can be overtaken by later arrivals: the starvation bound."""
    return timedelta(seconds=(len(order) + max_priority) * step_s)
