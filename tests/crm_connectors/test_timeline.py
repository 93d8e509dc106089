"""The timeline written from the unified queue's events, once even if seen twice."""

from __future__ import annotations

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
        InteractionQueued(41, "voice", customer.id, 3, 0, START),
        OfferMade(7, 41, 5, "voice", customer.id, 3, "queue", START, START),
        OfferAccepted(7, 41, 5, "voice", customer.id, START),
        InteractionCompleted(41, "voice", customer.id, 5, START),
    ]
    for event in events + events:  # a second process sees the same events
        await writer.on_event(event)
    async with db_pool.acquire() as conn:
        entries = await store.timeline(conn, customer.id)
    assert sorted(e.summary for e in entries) == [
        "Call completed",
        "Call queued",
        "Call taken by agent 5",
    ]
    assert {e.kind for e in entries} == {"call"}
    assert {e.data["interaction_id"] for e in entries} == {41}
