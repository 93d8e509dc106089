"""The customer store on a real PostgreSQL: find or create, identities, merge, timeline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from crm_connectors.store import CustomerNotFound, CustomerStore, IdentityTaken, MergeRefused
from server.clock import ManualClock


async def test_a_customer_is_found_again_by_any_spelling_of_their_identity(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        first = await store.resolve_customer(conn, "phone", "8 912 345-67-89", "Anna")
        again = await store.resolve_customer(conn, "phone", "+7 912 3456789", "Somebody else")
        assert again.id == first.id
        assert again.display_name == "Anna"
        assert [(i.kind, i.value) for i in again.identities] == [("phone", "+79123456789")]
        assert (await store.find_customer(conn, "phone", "89123456789")).id == first.id
        assert await store.find_customer(conn, "email", "nobody@example.com") is None


async def test_a_name_fills_in_an_unknown_one_but_never_overwrites(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        nameless = await store.resolve_customer(conn, "webchat", "visitor-1")
        assert nameless.display_name == ""
        named = await store.resolve_customer(conn, "webchat", "visitor-1", "Boris")
        assert named.display_name == "Boris"


async def test_two_processes_resolving_a_new_person_at_once_create_one_customer(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async def resolve() -> int:
        async with db_pool.acquire() as conn:
            return (await store.resolve_customer(conn, "email", "race@example.com")).id

    ids = await asyncio.gather(*(resolve() for _ in range(8)))
    assert len(set(ids)) == 1
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM customers") == 1


async def test_an_identity_of_someone_else_is_refused_naming_them(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        anna = await store.resolve_customer(conn, "phone", "+79123456789")
        boris = await store.resolve_customer(conn, "email", "boris@example.com")
        with pytest.raises(IdentityTaken) as taken:
            await store.add_identity(conn, boris.id, "phone", "89123456789")
        assert taken.value.customer_id == anna.id
        both = await store.add_identity(conn, anna.id, "telegram", "555")
        assert {i.kind for i in both.identities} == {"phone", "telegram"}


async def test_a_merge_keeps_both_histories_and_old_ids_lead_to_the_survivor(
    db_pool: asyncpg.Pool, store: CustomerStore, clock: ManualClock
) -> None:
    async with db_pool.acquire() as conn:
        phone = await store.resolve_customer(conn, "phone", "+79123456789", "Anna")
        chat = await store.resolve_customer(conn, "webchat", "visitor-9")
        await store.add_timeline_entry(
            conn, phone.id, "call", source="test", source_ref="1", summary="called"
        )
        clock.advance(timedelta(minutes=1))
        await store.add_timeline_entry(
            conn, chat.id, "chat", source="test", source_ref="2", summary="chatted"
        )
        clock.advance(timedelta(minutes=1))
        merged = await store.merge(conn, phone.id, chat.id)
        assert {i.kind for i in merged.identities} == {"phone", "webchat"}
        assert merged.merged_ids == (chat.id,)
        assert (await store.get_customer(conn, chat.id)).id == phone.id
        assert (await store.resolve_customer(conn, "webchat", "visitor-9")).id == phone.id
        history = await store.timeline(conn, chat.id)
        assert [e.summary for e in history] == [
            f"Merged with customer #{chat.id}",
            "chatted",
            "called",
        ]
        assert [e.original_customer_id for e in history][1:] == [chat.id, phone.id]
        # Written later for the merged id, an entry lands with the survivor.
        late = await store.add_timeline_entry(conn, chat.id, "note", source="test", summary="x")
        assert late is not None and late.customer_id == phone.id
        with pytest.raises(MergeRefused):
            await store.merge(conn, phone.id, chat.id)
        with pytest.raises(MergeRefused):
            await store.merge(conn, phone.id, phone.id)
        with pytest.raises(CustomerNotFound):
            await store.merge(conn, phone.id, 10**9)


async def test_an_event_written_twice_makes_one_entry_and_pages_go_back_in_time(
    db_pool: asyncpg.Pool, store: CustomerStore, clock: ManualClock
) -> None:
    async with db_pool.acquire() as conn:
        customer = await store.resolve_customer(conn, "email", "pages@example.com")
        for n in range(5):
            clock.advance(timedelta(seconds=1))
            assert await store.add_timeline_entry(
                conn, customer.id, "email", source="test", source_ref=f"m{n}", summary=str(n)
            )
        assert (
            await store.add_timeline_entry(
                conn, customer.id, "email", source="test", source_ref="m0", summary="again"
            )
            is None
        )
        page = await store.timeline(conn, customer.id, limit=2)
        assert [e.summary for e in page] == ["4", "3"]
        rest = await store.timeline(conn, customer.id, limit=10, before=(page[-1].at, page[-1].id))
        assert [e.summary for e in rest] == ["2", "1", "0"]
        with pytest.raises(ValueError):
            await store.add_timeline_entry(conn, customer.id, "fax", source="test")
        with pytest.raises(CustomerNotFound):
            await store.add_timeline_entry(conn, 10**9, "note", source="test")


async def test_resolving_inside_a_callers_transaction_rolls_back_with_it(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await store.resolve_customer(conn, "email", "rollback@example.com")
                raise RuntimeError("the feature's own write failed")
        assert await store.find_customer(conn, "email", "rollback@example.com") is None
