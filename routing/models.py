"""The domain of the unified queue: channels, interactions, agents, offers.

Frozen dataclasses, free of database and HTTP types. Times are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

Channel = Literal["voice", "callback", "webchat", "telegram", "sms", "whatsapp", "email"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
# Channels whose offer is accepted by answering a phone, never automatically.
VOICE_CHANNELS: frozenset[Channel] = frozenset({"voice", "callback"})

AgentStatus = Literal["available", "paused", "away", "offline"]
AGENT_STATUSES: tuple[AgentStatus, ...] = get_args(AgentStatus)
MISSED_OFFERS_REASON = "missed offers"

Mode = Literal["queue", "ring_group"]
Strategy = Literal["least_loaded", "longest_idle", "round_robin", "random"]
OfferState = Literal["offered", "accepted", "declined", "timed_out", "cancelled", "released"]


@dataclass(frozen=True, slots=True)
class NewInteraction:
    """What a feature knows when a contact arrives; the customer is resolved already."""

    channel: Channel
    customer_id: int
    department_id: int
    # Required skills with the minimum level, {"english": 3}.
    skills: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0
    # {"call_id": "1700000000.42"}, {"chat_id": "..."}: how the feature finds its side.
    external_refs: Mapping[str, str] = field(default_factory=dict)
    # Sticky routing: offered only to this agent for the department's sticky time (or
    # sticky_s when given), then to everyone.
    preferred_agent_id: int | None = None
    sticky_s: float | None = None


@dataclass(frozen=True, slots=True)
class Interaction:
    id: int
    channel: Channel
    customer_id: int
    department_id: int
    skills: Mapping[str, int]
    priority: int
    state: str
    enqueued_at: datetime
    rank_at: datetime
    wait_deadline: datetime | None
    preferred_agent_id: int | None
    sticky_until: datetime | None
    external_refs: Mapping[str, str]
    agent_id: int | None
    # The offer it is held by (queue mode, or the accepted one of a ring group).
    offer_id: int | None
    offers_made: int
    requeues: int
    accepted_at: datetime | None
    wrapup_until: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    overflow_target: str | None
    # Agents who declined or missed it.
    declined_by: tuple[int, ...]
    version: int


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    interaction_id: int
    agent_id: int
    cost: int
    mode: Mode
    state: OfferState
    offered_at: datetime
    expires_at: datetime
    channel: Channel


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """How an agent is routed to: set by an admin."""

    capacity: int = 100
    # Per-agent cost overrides by channel.
    channel_costs: Mapping[str, int] = field(default_factory=dict)
    wrapup_s: float | None = None
    departments: frozenset[int] = frozenset()
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentState:
    agent_id: int
    status: AgentStatus
    pause_reason: str | None
    status_changed_at: datetime
    capacity: int
    load: int
    missed_offers: int


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """Where a waiting interaction stands, for announcements and the callback widget."""

    interaction_id: int
    state: str
    # 1 is next; None when it no longer waits.
    position: int | None
    # None when nobody who could take it is working.
    estimated_wait_s: float | None
