"""The customer store as the API uses it: connections from the pool, the asker's scope
checked (crm_connectors.access), events published.

A customer the asker may not see is reported exactly as one that does not exist
(CustomerNotFound, None from a look-up): another's data and no data look the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg

from server.auth import User

from .access import Access
from .events import CustomersMerged
from .models import Customer, TimelineEntry
from .store import CustomerNotFound, CustomerStore, IdentityTaken

NOTE_SOURCE = "crm.note"


class CustomerService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: CustomerStore,
        access: Access,
        publish: Callable[[object], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self.store = store
        self.access = access
        self._publish = publish
        self._clock = clock

    async def _visible(self, conn: asyncpg.Connection, user: User, customer_id: int) -> Customer:
        if not await self.access.sees_customer(conn, user, customer_id):
            raise CustomerNotFound(customer_id)
        return await self.store.get_customer(conn, customer_id)

    async def lookup(self, user: User, kind: str, value: str) -> Customer | None:
        async with self._pool.acquire() as conn:
            found = await self.store.find_customer(conn, kind, value)
            if found is None or not await self.access.sees_customer(conn, user, found.id):
                return None
            return found

    async def get(self, user: User, customer_id: int) -> Customer:
        async with self._pool.acquire() as conn:
            return await self._visible(conn, user, customer_id)

    async def timeline(
        self, user: User, customer_id: int, limit: int, before: tuple[datetime, int] | None
    ) -> list[TimelineEntry]:
        async with self._pool.acquire() as conn:
            customer = await self._visible(conn, user, customer_id)
            return await self.store.timeline(conn, customer.id, limit, before)

    async def add_note(self, user: User, customer_id: int, text: str) -> TimelineEntry:
        async with self._pool.acquire() as conn:
            customer = await self._visible(conn, user, customer_id)
            entry = await self.store.add_timeline_entry(
                conn,
                customer.id,
                "note",
                source=NOTE_SOURCE,
                summary=text,
                author_id=user.id,
            )
        assert entry is not None  # notes have no source_ref: never a repeat
        return entry

    async def add_identity(self, user: User, customer_id: int, kind: str, value: str) -> Customer:
        async with self._pool.acquire() as conn:
            customer = await self._visible(conn, user, customer_id)
            try:
                return await self.store.add_identity(conn, customer.id, kind, value)
            except IdentityTaken as exc:
                owner = exc.customer_id
                if owner is not None and not await self.access.sees_customer(conn, user, owner):
                    raise IdentityTaken(exc.kind, exc.value, None) from None
                raise

    async def set_tags(self, user: User, customer_id: int, tags: Iterable[str]) -> Customer:
        async with self._pool.acquire() as conn:
            customer = await self._visible(conn, user, customer_id)
            return await self.store.set_tags(conn, customer.id, tags)

    async def merge(self, user: User, kept_id: int, merged_id: int) -> Customer:
        """Both customers must be the user's to see."""
        async with self._pool.acquire() as conn:
            for customer_id in (kept_id, merged_id):
                if not await self.access.sees_customer(conn, user, customer_id):
                    raise CustomerNotFound(customer_id)
            customer = await self.store.merge(conn, kept_id, merged_id)
        self._publish(CustomersMerged(kept_id, merged_id, self._clock()))
        return customer
