"""The domain of text channels: conversations and their messages, free of database and
framework types. Times are timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

TextChannel = Literal["webchat", "telegram", "sms", "whatsapp", "email"]
TEXT_CHANNELS: tuple[TextChannel, ...] = get_args(TextChannel)
Direction = Literal["in", "out", "system"]
ClosedBy = Literal["customer", "agent", "system"]


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    id: int
    name: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    direction: Direction
    author_id: int | None
    # The agent's name as the customer sees it ("" for the customer's own messages).
    author_name: str
    body: str
    attachment: AttachmentRef | None
    client_ref: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    channel: TextChannel
    address: str
    customer_id: int
    department_id: int
    interaction_id: int | None
    source: str
    state: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    closed_by: ClosedBy | None
    csat: int | None
