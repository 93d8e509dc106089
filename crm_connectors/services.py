"""The customer store as the API uses it: connections from the pool, events published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from .events import CustomersMerged
from .models import Customer, TimelineEntry
from .store import CustomerStore

NOTE_SOURCE = "crm.note"


class CustomerService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: CustomerStore,
        publish: Callable[[object], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self.store = store
        self._publish = publish
        self._clock = clock

    async def lookup(self, kind: str, value: str) -> Customer | None:
        async with self._pool.acquire() as conn:
            return await self.store.find_customer(conn, kind, value)

    async def get(self, customer_id: int) -> Customer:
        async with self._pool.acquire() as conn:
            return await self.store.get_customer(conn, customer_id)

    async def timeline(
        self, customer_id: int, limit: int, before: tuple[datetime, int] | None
    ) -> list[TimelineEntry]:
        async with self._pool.acquire() as conn:
            return await self.store.timeline(conn, customer_id, limit, before)

    async def add_note(self, customer_id: int, author_id: int, text: str) -> TimelineEntry:
        async with self._pool.acquire() as conn:
            customer = await self.store.get_customer(conn, customer_id)
            entry = await self.store.add_timeline_entry(
                conn,
                customer.id,
                "note",
                source=NOTE_SOURCE,
                summary=text,
                author_id=author_id,
            )
        assert entry is not None  # notes have no source_ref: never a repeat
        return entry

    async def add_identity(self, customer_id: int, kind: str, value: str) -> Customer:
        async with self._pool.acquire() as conn:
            return await self.store.add_identity(conn, customer_id, kind, value)

    async def merge(self, kept_id: int, merged_id: int) -> Customer:
        async with self._pool.acquire() as conn:
            customer = await self.store.merge(conn, kept_id, merged_id)
        self._publish(CustomersMerged(kept_id, merged_id, self._clock()))
        return customer
