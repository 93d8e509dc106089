"""SQL of the customer store. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

_ENTRY_COLUMNS = """id, customer_id, original_customer_id, kind, at, summary,
    data::text AS data, source, source_ref, author_id"""


async def customer_by_identity(
    conn: asyncpg.Connection, kind: str, value: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT c.id, c.display_name FROM customer_identities i
           JOIN customers c ON c.id = i.customer_id
           WHERE i.kind = $1 AND i.value = $2""",
        kind,
        value,
    )


async def insert_customer(conn: asyncpg.Connection, display_name: str) -> int:
    return await conn.fetchval(
        "INSERT INTO customers (display_name) VALUES ($1) RETURNING id", display_name
    )


async def insert_identity(
    conn: asyncpg.Connection, kind: str, value: str, customer_id: int
) -> None:
    """Raises UniqueViolationError when the identity belongs to somebody already."""
    await conn.execute(
        "INSERT INTO customer_identities (kind, value, customer_id) VALUES ($1, $2, $3)",
        kind,
        value,
        customer_id,
    )


async def fill_display_name(conn: asyncpg.Connection, customer_id: int, name: str) -> None:
    await conn.execute(
        """UPDATE customers SET display_name = $2, updated_at = now()
           WHERE id = $1 AND display_name = ''""",
        customer_id,
        name,
    )


async def surviving_id(conn: asyncpg.Connection, customer_id: int) -> int | None:
    """The customer's id, or the id of the customer it was merged into."""
    return await conn.fetchval(
        "SELECT coalesce(merged_into, id) FROM customers WHERE id = $1", customer_id
    )


async def get_customer(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT c.id, c.display_name, c.responsible_agent_id, c.created_at,
                  array(SELECT i.kind FROM customer_identities i
                        WHERE i.customer_id = c.id ORDER BY i.kind, i.value) AS kinds,
                  array(SELECT i.value FROM customer_identities i
                        WHERE i.customer_id = c.id ORDER BY i.kind, i.value) AS identity_values,
                  array(SELECT m.id FROM customers m
                        WHERE m.merged_into = c.id ORDER BY m.id) AS merged_ids,
                  array(SELECT t.tag FROM customer_tags t
                        WHERE t.customer_id = c.id ORDER BY t.tag) AS tags
           FROM customers c WHERE c.id = $1""",
        customer_id,
    )


async def set_responsible_agent(
    conn: asyncpg.Connection, customer_id: int, agent_id: int | None
) -> bool:
    status = await conn.execute(
        """UPDATE customers SET responsible_agent_id = $2, updated_at = now()
           WHERE id = $1 AND merged_into IS NULL""",
        customer_id,
        agent_id,
    )
    return status != "UPDATE 0"


async def set_tags(conn: asyncpg.Connection, customer_id: int, tags: Sequence[str]) -> None:
    await conn.execute("DELETE FROM customer_tags WHERE customer_id = $1", customer_id)
    await conn.execute(
        """INSERT INTO customer_tags (customer_id, tag)
           SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING""",
        customer_id,
        list(tags),
    )


async def lock_customers(conn: asyncpg.Connection, ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, display_name, responsible_agent_id, merged_into FROM customers
           WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE""",
        sorted(ids),
    )


async def move_customer(
    conn: asyncpg.Connection,
    kept_id: int,
    merged_id: int,
    display_name: str,
    responsible_agent_id: int | None,
) -> None:
    await conn.execute(
        "UPDATE customer_identities SET customer_id = $1 WHERE customer_id = $2",
        kept_id,
        merged_id,
    )
    await conn.execute(
        "UPDATE timeline_entries SET customer_id = $1 WHERE customer_id = $2", kept_id, merged_id
    )
    await conn.execute(
        """INSERT INTO customer_tags (customer_id, tag)
           SELECT $1, tag FROM customer_tags WHERE customer_id = $2 ON CONFLICT DO NOTHING""",
        kept_id,
        merged_id,
    )
    await conn.execute("DELETE FROM customer_tags WHERE customer_id = $1", merged_id)
    # Earlier merges into the merged customer lead to the survivor directly: one hop.
    await conn.execute(
        "UPDATE customers SET merged_into = $1 WHERE merged_into = $2", kept_id, merged_id
    )
    await conn.execute(
        "UPDATE customers SET merged_into = $1, updated_at = now() WHERE id = $2",
        kept_id,
        merged_id,
    )
    await conn.execute(
        """UPDATE customers SET display_name = $2, responsible_agent_id = $3, updated_at = now()
           WHERE id = $1""",
        kept_id,
        display_name,
        responsible_agent_id,
    )


async def insert_entry(
    conn: asyncpg.Connection,
    customer_id: int,
    kind: str,
    at: datetime,
    summary: str,
    data: Mapping[str, Any],
    source: str,
    source_ref: str | None,
    author_id: int | None,
) -> asyncpg.Record | None:
    """Write an entry for the customer (or the one it was merged into); None when the
    source had written this fact already, or no such customer."""
    return await conn.fetchrow(
        f"""INSERT INTO timeline_entries (customer_id, original_customer_id, kind, at, summary,
                data, source, source_ref, author_id)
            SELECT coalesce(c.merged_into, c.id), c.id, $2, $3, $4, $5::jsonb, $6, $7, $8
            FROM customers c WHERE c.id = $1
            ON CONFLICT (source, source_ref) DO NOTHING
            RETURNING {_ENTRY_COLUMNS}""",
        customer_id,
        kind,
        at,
        summary,
        json.dumps(dict(data)),
        source,
        source_ref,
        author_id,
    )


async def timeline(
    conn: asyncpg.Connection,
    customer_id: int,
    limit: int,
    before: tuple[datetime, int] | None,
) -> list[asyncpg.Record]:
    before_at, before_id = before if before is not None else (None, 0)
    return await conn.fetch(
        f"""SELECT {_ENTRY_COLUMNS} FROM timeline_entries
            WHERE customer_id = $1 AND ($2::timestamptz IS NULL OR (at, id) < ($2, $3))
            ORDER BY at DESC, id DESC LIMIT $4""",
        customer_id,
        before_at,
        before_id,
        limit,
    )


# --- who may see what (routing's interactions and offers, read only) ----------------------


async def agent_sees_interaction(
    conn: asyncpg.Connection, interaction_id: int, agent_id: int
) -> bool:
    """Offered to the agent now, or held by them (in conversation or wrap-up)."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM interactions WHERE id = $1 AND agent_id = $2
                            AND state IN ('accepted', 'wrap_up'))
               OR EXISTS (SELECT 1 FROM offers WHERE interaction_id = $1 AND agent_id = $2
                            AND state = 'offered')""",
        interaction_id,
        agent_id,
    )


async def customer_visible(
    conn: asyncpg.Connection, customer_id: int, agent_id: int, departments: Sequence[int]
) -> bool:
    """Some interaction of the customer (or of one merged into them) is offered to or
    held by the agent, or belongs to one of ``departments``."""
    return await conn.fetchval(
        """SELECT EXISTS (
               SELECT 1 FROM interactions i
               WHERE i.customer_id IN (SELECT id FROM customers WHERE id = $1 OR merged_into = $1)
                 AND ((i.agent_id = $2 AND i.state IN ('accepted', 'wrap_up'))
                      OR i.department_id = ANY($3::bigint[])
                      OR EXISTS (SELECT 1 FROM offers o WHERE o.interaction_id = i.id
                                   AND o.agent_id = $2 AND o.state = 'offered')))""",
        customer_id,
        agent_id,
        list(departments),
    )


async def agents_of_departments(conn: asyncpg.Connection, departments: Sequence[int]) -> set[int]:
    """The agents working in any of ``departments``."""
    if not departments:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT agent_id FROM agent_departments WHERE department_id = ANY($1::bigint[])",
        list(departments),
    )
    return {r["agent_id"] for r in rows}


async def call_in_service_of(
    conn: asyncpg.Connection, call_id: str, departments: Sequence[int]
) -> bool:
    """The interaction of call ``call_id`` (Asterisk's Linkedid, its ``call_id`` external
    reference) is offered or held now, in one of ``departments``."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM interactions
                          WHERE state IN ('offered', 'accepted', 'wrap_up')
                            AND department_id = ANY($2::bigint[])
                            AND external_refs->>'call_id' = $1)""",
        call_id,
        list(departments),
    )
