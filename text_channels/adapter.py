"""The one interface every text channel implements (web chat now; Telegram, SMS,
WhatsApp and e-mail later).

An adapter turns its vendor's payloads into :class:`InboundMessage` at the edge and
hands them to the conversation service; the service gives it what goes out — messages
and notices — through :class:`ChannelAdapter`. Nothing here knows a framework or the
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from .models import AttachmentRef, TextChannel


@dataclass(frozen=True, slots=True)
class NewAttachment:
    """A file as the customer sent it, checked against the limits before it is stored."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class InboundMessage:
    channel: TextChannel
    # The customer's address on the channel: web chat visitor id, Telegram user id, ...
    address: str
    text: str
    # The sender's own id of the message; a repeat (a retry) is stored once.
    client_ref: str | None = None
    attachment: NewAttachment | None = None
    # A name the customer gave, filled into an unnamed customer record.
    display_name: str | None = None
    # Where it came from: the web chat site's key, a bot's name.
    source: str = ""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    conversation_id: int
    message_id: int
    address: str
    text: str
    author_name: str
    attachment: AttachmentRef | None
    at: datetime


NoticeKind = Literal["typing", "closed", "blocked", "transferred"]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something besides a message the customer may be told; channels that cannot show
    it (an SMS has no typing indicator) ignore it."""

    conversation_id: int
    address: str
    kind: NoticeKind
    on: bool = True


class ChannelAdapter(Protocol):
    channel: TextChannel

    async def deliver(self, message: OutboundMessage) -> None:
        """Send an agent's message to the customer (already stored)."""

    async def notify(self, notice: Notice) -> None:
        """Tell the customer about something that is not a message."""
