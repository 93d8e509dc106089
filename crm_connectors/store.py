"""The customer store: one customer per person across channels, found or created from
the identity they arrived with, merged when two turn out to be one, with one timeline.

Every call takes a connection and runs in a transaction of its own — or, inside the
caller's transaction, in a savepoint: a feature resolves the customer and creates its
interaction together. Nothing here publishes events, so that works anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from . import repository
from .identities import normalize
from .models import TIMELINE_KINDS, Customer, Identity, TimelineEntry

MERGE_SOURCE = "crm.merge"
MAX_TAGS = 30
MAX_TAG_CHARS = 40


class CustomerNotFound(LookupError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer {customer_id}")


class IdentityTaken(Exception):
    """The identity belongs to another customer: merge the two instead. ``customer_id``
    None: one the asker may not see (its id is not theirs to learn)."""

    def __init__(self, kind: str, value: str, customer_id: int | None) -> None:
        owner = "another customer" if customer_id is None else f"customer {customer_id}"
        super().__init__(f"{kind} {value} belongs to {owner}")
        self.kind, self.value, self.customer_id = kind, value, customer_id


class MergeRefused(ValueError):
    pass


def entry_from_row(row: asyncpg.Record) -> TimelineEntry:
    return TimelineEntry(
        id=row["id"],
        customer_id=row["customer_id"],
        original_customer_id=row["original_customer_id"],
        kind=row["kind"],
        at=row["at"],
        summary=row["summary"],
        source=row["source"],
        source_ref=row["source_ref"],
        author_id=row["author_id"],
        data=json.loads(row["data"]),
    )


class CustomerStore:
    def __init__(self, clock: Callable[[], datetime], default_country_code: str = "") -> None:
        self._clock = clock
        self._country = default_country_code

    def normalize(self, kind: str, value: str) -> str:
        """Raises identities.InvalidIdentity."""
        return normalize(kind, value, self._country)

    async def resolve_customer(
        self,
        conn: asyncpg.Connection,
        identity_kind: str,
        value: str,
        display_name: str | None = None,
    ) -> Customer:
        """The customer with this identity, created if there is none. A display name
        fills in an unknown one; it never overwrites a name an agent may have corrected."""
        value = self.normalize(identity_kind, value)
        name = (display_name or "").strip()[:200]
        async with conn.transaction():
            found = await repository.customer_by_identity(conn, identity_kind, value)
            if found is None:
                try:
                    async with conn.transaction():
                        customer_id = await repository.insert_customer(conn, name)
                        await repository.insert_identity(conn, identity_kind, value, customer_id)
                except asyncpg.UniqueViolationError:
                    # Another process created this person a moment ago: theirs it is.
                    found = await repository.customer_by_identity(conn, identity_kind, value)
                    assert found is not None
            if found is not None:
                customer_id = found["id"]
                if name and not found["display_name"]:
                    await repository.fill_display_name(conn, customer_id, name)
            return await self.get_customer(conn, customer_id)

    async def find_customer(
        self, conn: asyncpg.Connection, identity_kind: str, value: str
    ) -> Customer | None:
        found = await repository.customer_by_identity(
            conn, identity_kind, self.normalize(identity_kind, value)
        )
        return None if found is None else await self.get_customer(conn, found["id"])

    async def get_customer(self, conn: asyncpg.Connection, customer_id: int) -> Customer:
        """The customer, or the one it was merged into."""
        survivor = await repository.surviving_id(conn, customer_id)
        row = None if survivor is None else await repository.get_customer(conn, survivor)
        if row is None:
            raise CustomerNotFound(customer_id)
        return Customer(
            id=row["id"],
            display_name=row["display_name"],
            responsible_agent_id=row["responsible_agent_id"],
            identities=tuple(
                Identity(k, v) for k, v in zip(row["kinds"], row["identity_values"], strict=True)
            ),
            created_at=row["created_at"],
            merged_ids=tuple(row["merged_ids"]),
            tags=tuple(row["tags"]),
        )

    async def add_identity(
        self, conn: asyncpg.Connection, customer_id: int, identity_kind: str, value: str
    ) -> Customer:
        value = self.normalize(identity_kind, value)
        async with conn.transaction():
            customer = await self.get_customer(conn, customer_id)
            owner = await repository.customer_by_identity(conn, identity_kind, value)
            if owner is not None and owner["id"] != customer.id:
                raise IdentityTaken(identity_kind, value, owner["id"])
            if owner is None:
                try:
                    async with conn.transaction():
                        await repository.insert_identity(conn, identity_kind, value, customer.id)
                except asyncpg.UniqueViolationError:
                    owner = await repository.customer_by_identity(conn, identity_kind, value)
                    assert owner is not None
                    if owner["id"] != customer.id:
                        raise IdentityTaken(identity_kind, value, owner["id"]) from None
            return await self.get_customer(conn, customer.id)

    async def set_tags(
        self, conn: asyncpg.Connection, customer_id: int, tags: Iterable[str]
    ) -> Customer:
        """Replace the customer's tags (stripped, each once)."""
        cleaned = sorted({t.strip() for t in tags})
        if len(cleaned) > MAX_TAGS or not all(1 <= len(t) <= MAX_TAG_CHARS for t in cleaned):
            raise ValueError(f"at most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters")
        async with conn.transaction():
            customer = await self.get_customer(conn, customer_id)
            await repository.set_tags(conn, customer.id, cleaned)
            return await self.get_customer(conn, customer.id)

    async def set_responsible_agent(
        self, conn: asyncpg.Connection, customer_id: int, agent_id: int | None
    ) -> Customer:
        customer = await self.get_customer(conn, customer_id)
        await repository.set_responsible_agent(conn, customer.id, agent_id)
        return await self.get_customer(conn, customer.id)

    async def add_timeline_entry(
        self,
        conn: asyncpg.Connection,
        customer_id: int,
        kind: str,
        *,
        source: str,
        source_ref: str | None = None,
        at: datetime | None = None,
        summary: str = "",
        data: Mapping[str, Any] | None = None,
        author_id: int | None = None,
    ) -> TimelineEntry | None:
        """Write one fact of the customer's history. ``(source, source_ref)`` names the fact:
        writing it again is a no-op (returns None), so event subscribers may see an event
        twice. A merged customer's entry goes to the customer it was merged into."""
        if kind not in TIMELINE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(TIMELINE_KINDS)}")
        if at is not None and at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        row = await repository.insert_entry(
            conn,
            customer_id,
            kind,
            at or self._clock(),
            summary[:2000],
            data or {},
            source,
            source_ref,
            author_id,
        )
        if row is None:
            if await repository.surviving_id(conn, customer_id) is None:
                raise CustomerNotFound(customer_id)
            return None
        return entry_from_row(row)

    async def timeline(
        self,
        conn: asyncpg.Connection,
        customer_id: int,
        limit: int = 50,
        before: tuple[datetime, int] | None = None,
    ) -> list[TimelineEntry]:
        """Newest first; ``before`` is the (at, id) of the last entry of the previous page."""
        customer = await self.get_customer(conn, customer_id)
        rows = await repository.timeline(conn, customer.id, limit, before)
        return [entry_from_row(r) for r in rows]

    async def merge(self, conn: asyncpg.Connection, kept_id: int, merged_id: int) -> Customer:
        """``merged_id`` becomes part of ``kept_id``: identities, tags and timeline move over,
        both histories are kept, and the merged id keeps leading to the survivor."""
        if kept_id == merged_id:
            raise MergeRefused("a customer cannot be merged into itself")
        async with conn.transaction():
            rows = {r["id"]: r for r in await repository.lock_customers(conn, [kept_id, merged_id])}
            for customer_id in (kept_id, merged_id):
                if customer_id not in rows:
                    raise CustomerNotFound(customer_id)
                if rows[customer_id]["merged_into"] is not None:
                    raise MergeRefused(
                        f"customer {customer_id} was merged into "
                        f"{rows[customer_id]['merged_into']} already"
                    )
            kept, merged = rows[kept_id], rows[merged_id]
            await repository.move_customer(
                conn,
                kept_id,
                merged_id,
                kept["display_name"] or merged["display_name"],
                kept["responsible_agent_id"] or merged["responsible_agent_id"],
            )
            await self.add_timeline_entry(
                conn,
                kept_id,
                "merge",
                source=MERGE_SOURCE,
                source_ref=str(merged_id),
                summary=f"Merged with customer #{merged_id}",
                data={"merged_id": merged_id},
            )
            return await self.get_customer(conn, kept_id)
