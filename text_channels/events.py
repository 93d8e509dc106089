"""Domain events of text channels, published on the bus once the fact is stored.

``interaction_id`` is the unified queue's interaction serving the conversation at that
moment; the operator page sends each event to whoever holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import ClosedBy, Message, TextChannel


@dataclass(frozen=True, slots=True)
class ConversationOpened:
    conversation_id: int
    channel: TextChannel
    customer_id: int
    department_id: int
    interaction_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """From the customer."""

    channel: TextChannel
    interaction_id: int | None
    customer_id: int
    message: Message


@dataclass(frozen=True, slots=True)
class MessageSent:
    """From an agent, stored and handed to the channel."""

    channel: TextChannel
    interaction_id: int | None
    customer_id: int
    message: Message


@dataclass(frozen=True, slots=True)
class CustomerTyping:
    conversation_id: int
    interaction_id: int | None
    on: bool


@dataclass(frozen=True, slots=True)
class ConversationTransferred:
    conversation_id: int
    from_interaction_id: int
    to_interaction_id: int
    by_agent_id: int
    to_agent_id: int | None
    to_department_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ConversationClosed:
    conversation_id: int
    channel: TextChannel
    customer_id: int
    interaction_id: int | None
    # The agent who had it when it closed, if one had.
    agent_id: int | None
    by: ClosedBy
    at: datetime


@dataclass(frozen=True, slots=True)
class ConversationRated:
    conversation_id: int
    customer_id: int
    interaction_id: int | None
    score: int
    comment: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AddressBlocked:
    channel: TextChannel
    address: str
    by_agent_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OfflineMessageLeft:
    offline_id: int
    channel: TextChannel
    customer_id: int
    department_id: int | None
    reason: str
    at: datetime
