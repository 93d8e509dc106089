"""The timeline written from the unified queue's events and from linked recordings, once
even if seen twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from crm_connectors.store import CustomerStore
from crm_connectors.timeline import TimelineWriter
from routing.events import InteractionCompleted, InteractionQueued, OfferAccepted, OfferMade
from tests.routing.helpers import START


async def test_an_interaction_leaves_queued_taken_and_completed_entries(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        customer = await store.resolve_customer(conn, "phone", "+79123456789")
    writer = TimelineWriter(db_pool, store)
    events = [
        InteractionQueued(41, "webchat", customer.id, 3, 0, START),
        OfferMade(7, 41, 5, "webchat", customer.id, 3, "queue", START, START),
        OfferAccepted(7, 41, 5, "webchat", customer.id, START),
        InteractionCompleted(41, "webchat", customer.id, 5, START),
    ]
    for event in events + events:  # a second process sees the same events
        await writer.on_event(event)
    async with db_pool.acquire() as conn:
        entries = await store.timeline(conn, customer.id)
    assert sorted(e.summary for e in entries) == [
        "Web chat completed",
        "Web chat queued",
        "Web chat taken by agent 5",
    ]
    assert {e.kind for e in entries} == {"chat"}
    assert {e.data["interaction_id"] for e in entries} == {41}


async def test_calls_and_callbacks_get_no_queue_steps_their_features_write_the_contact(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    """One entry per call (the voice path's) and per callback (callback's), not the
    queue's steps beside it."""
    async with db_pool.acquire() as conn:
        customer = await store.resolve_customer(conn, "phone", "+79123456781")
    writer = TimelineWriter(db_pool, store)
    for channel, interaction_id in (("voice", 51), ("callback", 52)):
        for event in (
            InteractionQueued(interaction_id, channel, customer.id, 3, 0, START),
            OfferAccepted(8, interaction_id, 5, channel, customer.id, START),
            InteractionCompleted(interaction_id, channel, customer.id, 5, START),
        ):
            await writer.on_event(event)
    async with db_pool.acquire() as conn:
        assert await store.timeline(conn, customer.id) == []


@dataclass(frozen=True)
class Linked:
    """Shaped like recording's RecordingLinked (this package imports no feature)."""

    recording_id: int
    call_id: str
    customer_id: int | None
    caller_number: str | None
    duration_s: float
    at: datetime


async def test_a_linked_recording_is_noted_once_for_the_customer_found_by_id_or_number(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        anna = await store.resolve_customer(conn, "phone", "+79123456789")
        boris = await store.resolve_customer(conn, "phone", "+79123456780")
    writer = TimelineWriter(db_pool, store)
    by_id = Linked(11, "1700000000.1", anna.id, "+79123456789", 75.4, START)
    by_number = Linked(12, "1700000000.2", None, "+7 912 345-67-80", 3.0, START)
    entry = await writer.on_recording(by_id)
    assert entry is not None
    assert (entry.kind, entry.summary) == ("call", "Call recorded (1:15)")
    assert entry.data == {"recording_id": 11, "call_id": "1700000000.1", "duration_s": 75.4}
    assert await writer.on_recording(by_id) is None, "a second process's write is a no-op"
    assert (await writer.on_recording(by_number)).customer_id == boris.id  # type: ignore[union-attr]
    # Nobody is known by an agent's extension or an unknown number: no customer is made.
    for number in ("1101", "+79990000000", None):
        assert await writer.on_recording(Linked(13, "1700000000.3", None, number, 1, START)) is None
    async with db_pool.acquire() as conn:
        assert [e.data["recording_id"] for e in await store.timeline(conn, anna.id)] == [11]
        assert await conn.fetchval("SELECT count(*) FROM customers") == 2
