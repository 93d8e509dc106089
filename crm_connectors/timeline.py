"""The customer timeline written from the unified queue's domain events, as they happen.

Every process receives every event (routing.relay), so entries are keyed by interaction
and step: the first process to write one wins, the others' writes are no-ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from routing.events import (
    InteractionAbandoned,
    InteractionCompleted,
    InteractionExpired,
    InteractionQueued,
    OfferAccepted,
)

from .store import CustomerStore

SOURCE = "routing"
# What the timeline calls an interaction of each channel.
KIND_OF_CHANNEL = {
    "voice": "call",
    "callback": "callback",
    "webchat": "chat",
    "telegram": "message",
    "sms": "message",
    "whatsapp": "message",
    "email": "email",
}
_NOUN = {
    "voice": "Call",
    "callback": "Callback",
    "webchat": "Web chat",
    "telegram": "Telegram conversation",
    "sms": "SMS conversation",
    "whatsapp": "WhatsApp conversation",
    "email": "E-mail",
}

Subscribe = Callable[[type, Callable[[Any], Any]], Any]


def describe(event: object) -> tuple[str, dict[str, Any]] | None:
    """The summary and data of the entry an event makes, or None if it makes none."""
    if isinstance(event, InteractionQueued):
        return f"{_NOUN[event.channel]} queued", {"department_id": event.department_id}
    if isinstance(event, OfferAccepted):
        return f"{_NOUN[event.channel]} taken by agent {event.agent_id}", {
            "agent_id": event.agent_id
        }
    if isinstance(event, InteractionCompleted):
        return f"{_NOUN[event.channel]} completed", {"agent_id": event.agent_id}
    if isinstance(event, InteractionAbandoned):
        return f"{_NOUN[event.channel]} abandoned ({event.reason})", {}
    if isinstance(event, InteractionExpired):
        return f"{_NOUN[event.channel]} expired in the queue", {"overflow": event.overflow_target}
    return None


class TimelineWriter:
    EVENTS = (
        InteractionQueued,
        OfferAccepted,
        InteractionCompleted,
        InteractionAbandoned,
        InteractionExpired,
    )

    def __init__(self, pool: asyncpg.Pool, store: CustomerStore) -> None:
        self._pool = pool
        self._store = store

    def subscribe(self, subscribe: Subscribe) -> list[Any]:
        """Register on the bus (``bus.subscribe``); returns the unsubscribe handles."""
        return [subscribe(event_type, self.on_event) for event_type in self.EVENTS]

    async def on_event(self, event: Any) -> None:
        described = describe(event)
        if described is None:
            return
        summary, data = described
        step = type(event).__name__
        at = getattr(event, "at", None) or getattr(event, "enqueued_at", None)
        async with self._pool.acquire() as conn:
            await self._store.add_timeline_entry(
                conn,
                event.customer_id,
                KIND_OF_CHANNEL[event.channel],
                source=SOURCE,
                source_ref=f"{event.interaction_id}:{step}",
                at=at,
                summary=summary,
                data={"interaction_id": event.interaction_id, "event": step, **data},
            )
