"""Capacity arithmetic: what an interaction costs an agent, and whether it fits.

An agent has a capacity in units (100 by default) and each interaction it holds costs
units by channel: a call 60, a text conversation 20, an e-mail 10 — one call and two
chats, or five chats. A department may change the costs (voice at 100 makes a call
exclusive) and an agent may override them (a novice's chat at 50: two chats at most).
"""

from __future__ import annotations

from collections.abc import Mapping

from .models import Channel

DEFAULT_CAPACITY = 100
DEFAULT_COSTS: Mapping[Channel, int] = {
    "voice": 60,
    "callback": 60,
    "webchat": 20,
    "telegram": 20,
    "sms": 20,
    "whatsapp": 20,
    "email": 10,
}


def cost_of(
    channel: Channel,
    department_costs: Mapping[str, int],
    agent_costs: Mapping[str, int],
) -> int:
    """The units ``channel`` costs this agent in this department (agent overrides win)."""
    if channel in agent_costs:
        return agent_costs[channel]
    if channel in department_costs:
        return department_costs[channel]
    return DEFAULT_COSTS[channel]


def room(capacity: int, load: int) -> int:
    """Units still free; never negative (capacity may be lowered below the load)."""
    return max(0, capacity - load)


def fits(capacity: int, load: int, cost: int) -> bool:
    return load + cost <= capacity
