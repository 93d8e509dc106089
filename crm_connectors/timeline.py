"""The customer timeline written from domain events, as they happen: the unified
queue's (routing's events, subscribed here) and a call's recording (any event shaped
like :class:`LinkedRecording`; recording's RecordingLinked is subscribed by whoever
composes the features — the workspace — since this base package imports no feature).

Every process receives every routing event (routing.relay), so entries are keyed by
interaction and step, and a recording's by its id: the first write wins, repeats are
no-ops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from routing.events import (
    InteractionAbandoned,
    InteractionCompleted,
    InteractionExpired,
    InteractionQueued,
    OfferAccepted,
)

from .identities import InvalidIdentity
from .models import TimelineEntry
from .store import CustomerStore

SOURCE = "routing"
RECORDING_SOURCE = "recording"
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

# Channels whose feature writes the contact's entry itself, with more than the queue
# knows — the voice path one entry per call (outcome, IVR path, wait, the agent who
# answered), callbacks theirs per request and attempt — so the queue's steps of those
# interactions would only repeat it.
CONTACT_WRITES_ITS_OWN_ENTRY = frozenset({"voice", "callback"})

Subscribe = Callable[[type, Callable[[Any], Any]], Any]


class LinkedRecording(Protocol):
    """A call's stored recording, linked to the call: its customer when known, else the
    caller's number to find them by."""

    @property
    def recording_id(self) -> int: ...
    @property
    def call_id(self) -> str: ...
    @property
    def customer_id(self) -> int | None: ...
    @property
    def caller_number(self) -> str | None: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def at(self) -> datetime: ...


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


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
        if event.channel in CONTACT_WRITES_ITS_OWN_ENTRY:
            return
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

    async def on_recording(self, event: LinkedRecording) -> TimelineEntry | None:
        """The call's recording on the customer's timeline. A number nobody is known by
        (an agent calling a colleague, a withheld number) makes no customer: no entry."""
        async with self._pool.acquire() as conn:
            customer_id = event.customer_id
            if customer_id is None and event.caller_number:
                try:
                    found = await self._store.find_customer(conn, "phone", event.caller_number)
                except InvalidIdentity:
                    found = None
                customer_id = None if found is None else found.id
            if customer_id is None:
                return None
            return await self._store.add_timeline_entry(
                conn,
                customer_id,
                "call",
                source=RECORDING_SOURCE,
                source_ref=str(event.recording_id),
                at=event.at,
                summary=f"Call recorded ({_duration(event.duration_s)})",
                data={
                    "recording_id": event.recording_id,
                    "call_id": event.call_id,
                    "duration_s": round(event.duration_s, 1),
                },
            )
