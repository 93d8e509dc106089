"""The customer store on a real PostgreSQL: find or create, identities, merge, timeline."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from crm_connectors.store import CustomerNotFound, CustomerStore, IdentityTaken, MergeRefused
from server.clock import ManualClock
from server.db import discover_migrations, migrate
from tests.db import drop_database, dsn_with_database


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


async def test_tags_are_the_customers_cleaned_and_a_merge_moves_them_to_the_survivor(
    db_pool: asyncpg.Pool, store: CustomerStore
) -> None:
    async with db_pool.acquire() as conn:
        phone = await store.resolve_customer(conn, "phone", "+79123456780")
        chat = await store.resolve_customer(conn, "webchat", "visitor-tags")
        tagged = await store.set_tags(conn, phone.id, [" vip", "late payer", "vip "])
        assert tagged.tags == ("late payer", "vip")
        await store.set_tags(conn, chat.id, ["vip", "wholesale"])
        for bad in (["x" * 41], ["  "], [f"t{i}" for i in range(31)]):
            with pytest.raises(ValueError):
                await store.set_tags(conn, phone.id, bad)
        merged = await store.merge(conn, phone.id, chat.id)
        assert merged.tags == ("late payer", "vip", "wholesale")
        # The merged id leads to the survivor, for tags as for everything else.
        assert (await store.set_tags(conn, chat.id, ["vip"])).id == phone.id
        assert (await store.get_customer(conn, phone.id)).tags == ("vip",)
        with pytest.raises(CustomerNotFound):
            await store.set_tags(conn, 10**9, ["vip"])


async def test_the_tags_migration_moves_tags_left_on_merged_customers_to_the_survivors(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    """Before 0052 a merge left the merged customer's tags behind."""
    before = tmp_path / "before"
    before.mkdir()
    for migration in discover_migrations():
        if migration.version < 52:
            shutil.copy(migration.path, before / migration.path.name)
    name = f"sb_tags_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = dsn_with_database(pg_admin_dsn, name)
    try:
        await migrate(dsn, before)
        conn = await asyncpg.connect(dsn)
        try:
            kept, merged = [
                await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
                for _ in range(2)
            ]
            await conn.execute("UPDATE customers SET merged_into = $1 WHERE id = $2", kept, merged)
            await conn.executemany(
                "INSERT INTO customer_tags (customer_id, tag) VALUES ($1, $2)",
                [(kept, "vip"), (merged, "vip"), (merged, "wholesale")],
            )
            await migrate(dsn)
            rows = await conn.fetch("SELECT customer_id, tag FROM customer_tags ORDER BY tag")
            assert [(r["customer_id"], r["tag"]) for r in rows] == [
                (kept, "vip"),
                (kept, "wholesale"),
            ]
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_dsn, dsn)
