"""Domain events of the unified queue, one per transition.

Published on the in-process bus after the transaction that made them commits, and to
the other server processes through PostgreSQL NOTIFY (routing.relay), where they are
published on those processes' buses too: every process sees every event. A subscriber
with a side effect outside the database acts only for what it owns (the voice path
rings only phones on its own Asterisk); one that writes to the database writes
idempotently.

Mappings travel as tuples of pairs so that events stay hashable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import AgentStatus, Channel, Mode


@dataclass(frozen=True, slots=True)
class InteractionQueued:
    interaction_id: int
    channel: Channel
    customer_id: int
    department_id: int
    priority: int
    enqueued_at: datetime


@dataclass(frozen=True, slots=True)
class OfferMade:
    offer_id: int
    interaction_id: int
    agent_id: int
    channel: Channel
    customer_id: int
    department_id: int
    mode: Mode
    expires_at: datetime
    at: datetime
    # The feature's references, e.g. (("call_id", "1700000000.42"),): what to ring.
    external_refs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    offer_id: int
    interaction_id: int
    agent_id: int
    channel: Channel
    customer_id: int
    at: datetime
    # True when the department accepts this channel's offers without the agent.
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class OfferDeclined:
    offer_id: int
    interaction_id: int
    agent_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OfferTimedOut:
    offer_id: int
    interaction_id: int
    agent_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OfferCancelled:
    """An open offer withdrawn: another agent of a ring group took it, the customer left,
    or the agent stopped being available."""

    offer_id: int
    interaction_id: int
    agent_id: int
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class InteractionAbandoned:
    interaction_id: int
    channel: Channel
    customer_id: int
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class InteractionRequeued:
    interaction_id: int
    agent_id: int | None
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WrapUpStarted:
    interaction_id: int
    agent_id: int
    until: datetime


@dataclass(frozen=True, slots=True)
class InteractionCompleted:
    interaction_id: int
    channel: Channel
    customer_id: int
    agent_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class InteractionExpired:
    """Waited the department's max wait; the owning feature carries out the target."""

    interaction_id: int
    channel: Channel
    customer_id: int
    overflow_target: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class InteractionOverflowed:
    """Moved to another department after its max wait; it keeps its enqueue time."""

    interaction_id: int
    from_department_id: int
    to_department_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class InteractionChannelChanged:
    """Continues on another channel (a caller asked to be called back); same place."""

    interaction_id: int
    from_channel: Channel
    to_channel: Channel
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentStatusChanged:
    agent_id: int
    status: AgentStatus
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentProfileChanged:
    agent_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class DepartmentSettingsChanged:
    department_id: int
    version: int
    at: datetime


ROUTING_EVENTS: tuple[type, ...] = (
    InteractionQueued,
    OfferMade,
    OfferAccepted,
    OfferDeclined,
    OfferTimedOut,
    OfferCancelled,
    InteractionAbandoned,
    InteractionRequeued,
    WrapUpStarted,
    InteractionCompleted,
    InteractionExpired,
    InteractionOverflowed,
    InteractionChannelChanged,
    AgentStatusChanged,
    AgentProfileChanged,
    DepartmentSettingsChanged,
)

# Events after which some waiting interaction may have become routable: they wake the
# router of every process.
ROUTABLE_EVENTS: tuple[type, ...] = (
    InteractionQueued,
    OfferDeclined,
    OfferTimedOut,
    OfferCancelled,
    InteractionAbandoned,
    InteractionRequeued,
    InteractionCompleted,
    InteractionOverflowed,
    InteractionChannelChanged,
    AgentStatusChanged,
    AgentProfileChanged,
    DepartmentSettingsChanged,
)
