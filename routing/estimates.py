"""Estimated wait from the real queue and recent handle times. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .capacity import cost_of
from .models import Channel


def slots(
    channel: Channel,
    agents: Iterable[tuple[int, Mapping[str, int]]],
    department_costs: Mapping[str, int],
) -> int:
    """How many interactions of ``channel`` the agents could hold at once: the sum of
    ``capacity // cost`` over (capacity, cost overrides) pairs."""
    return sum(capacity // cost_of(channel, department_costs, costs) for capacity, costs in agents)


def estimated_wait_s(position: int, handle_time_s: float, slots: int) -> float | None:
    """Seconds until the interaction at ``position`` (1 = next) is likely offered.

    Each of the ``slots`` frees up once per handle time on average, so the ``position``-th
    in line waits ``position`` handle times spread over the slots. None when nobody
    works (no slot): the wait cannot be told.
    """
    if slots <= 0:
        return None
    if position <= 0 or handle_time_s <= 0:
        return 0.0
    return math.ceil(position * handle_time_s / slots * 10) / 10
