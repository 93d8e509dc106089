"""SQL of text channels. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

_CONVERSATION = """id, channel, address, customer_id, department_id, interaction_id, source,
    state, opened_at, closed_at, closed_by, csat"""
_MESSAGE = """m.id, m.conversation_id, m.direction, m.author_id,
    coalesce(nullif(u.display_name, ''), u.username, '') AS author_name, m.body,
    m.client_ref, m.created_at, a.id AS attachment_id, a.name AS attachment_name,
    a.content_type AS attachment_type, a.size AS attachment_size"""
_MESSAGE_JOINS = """LEFT JOIN users u ON u.id = m.author_id
    LEFT JOIN conversation_attachments a ON a.id = m.attachment_id"""

# --- conversations ------------------------------------------------------------------------


async def open_conversation(
    conn: asyncpg.Connection, channel: str, address: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_CONVERSATION} FROM conversations
            WHERE channel = $1 AND address = $2 AND state = 'open'
            {"FOR UPDATE" if lock else ""}""",
        channel,
        address,
    )


async def latest_conversation(
    conn: asyncpg.Connection, channel: str, address: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_CONVERSATION} FROM conversations WHERE channel = $1 AND address = $2
            ORDER BY id DESC LIMIT 1""",
        channel,
        address,
    )


async def get_conversation(
    conn: asyncpg.Connection, conversation_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_CONVERSATION} FROM conversations WHERE id = $1 {'FOR UPDATE' if lock else ''}",
        conversation_id,
    )


async def conversation_of_interaction(
    conn: asyncpg.Connection, interaction_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_CONVERSATION} FROM conversations WHERE interaction_id = $1", interaction_id
    )


async def insert_conversation(
    conn: asyncpg.Connection,
    channel: str,
    address: str,
    customer_id: int,
    department_id: int,
    source: str,
    at: datetime,
) -> asyncpg.Record:
    """Raises UniqueViolationError when the address has an open conversation already."""
    return await conn.fetchrow(
        f"""INSERT INTO conversations (channel, address, customer_id, department_id, source,
                state, opened_at)
            VALUES ($1, $2, $3, $4, $5, 'open', $6) RETURNING {_CONVERSATION}""",
        channel,
        address,
        customer_id,
        department_id,
        source,
        at,
    )


async def set_interaction(
    conn: asyncpg.Connection, conversation_id: int, interaction_id: int, department_id: int
) -> None:
    await conn.execute(
        "UPDATE conversations SET interaction_id = $2, department_id = $3 WHERE id = $1",
        conversation_id,
        interaction_id,
        department_id,
    )


async def close_conversation(
    conn: asyncpg.Connection, conversation_id: int, by: str, at: datetime
) -> asyncpg.Record | None:
    """None when it was closed already."""
    return await conn.fetchrow(
        f"""UPDATE conversations SET state = 'closed', closed_at = $3, closed_by = $2
            WHERE id = $1 AND state = 'open' RETURNING {_CONVERSATION}""",
        conversation_id,
        by,
        at,
    )


async def rate_conversation(
    conn: asyncpg.Connection,
    conversation_id: int,
    score: int,
    comment: str,
    at: datetime,
) -> asyncpg.Record | None:
    """None unless it is closed and not rated yet."""
    return await conn.fetchrow(
        f"""UPDATE conversations SET csat = $2, csat_comment = $3, rated_at = $4
            WHERE id = $1 AND state = 'closed' AND csat IS NULL RETURNING {_CONVERSATION}""",
        conversation_id,
        score,
        comment,
        at,
    )


# --- messages -----------------------------------------------------------------------------


async def append_to_open(
    conn: asyncpg.Connection,
    channel: str,
    address: str,
    body: str,
    client_ref: str | None,
    at: datetime,
) -> asyncpg.Record | None:
    """A customer's text message into their open conversation, in one statement: the
    stored message with its conversation's interaction and customer. None when the
    address has no open conversation, or the message (by ``client_ref``) is there already."""
    return await conn.fetchrow(
        """WITH c AS (
               SELECT id, interaction_id, customer_id FROM conversations
               WHERE channel = $1 AND address = $2 AND state = 'open'),
           m AS (
               INSERT INTO conversation_messages (conversation_id, direction, body, client_ref,
                   created_at)
               SELECT c.id, 'in', $3, $4, $5 FROM c
               ON CONFLICT (conversation_id, client_ref) DO NOTHING
               RETURNING id, conversation_id, created_at)
           SELECT m.id, m.conversation_id, m.created_at, c.interaction_id, c.customer_id
           FROM m JOIN c ON c.id = m.conversation_id""",
        channel,
        address,
        body,
        client_ref,
        at,
    )


async def insert_message(
    conn: asyncpg.Connection,
    conversation_id: int,
    direction: str,
    body: str,
    at: datetime,
    *,
    author_id: int | None = None,
    attachment_id: int | None = None,
    client_ref: str | None = None,
) -> int | None:
    """The new message's id; None when ``client_ref`` was stored already."""
    return await conn.fetchval(
        """INSERT INTO conversation_messages (conversation_id, direction, author_id, body,
               attachment_id, client_ref, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (conversation_id, client_ref) DO NOTHING RETURNING id""",
        conversation_id,
        direction,
        author_id,
        body,
        attachment_id,
        client_ref,
        at,
    )


async def get_message(conn: asyncpg.Connection, message_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_MESSAGE} FROM conversation_messages m {_MESSAGE_JOINS} WHERE m.id = $1",
        message_id,
    )


async def message_by_ref(
    conn: asyncpg.Connection, channel: str, address: str, client_ref: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_MESSAGE} FROM conversation_messages m {_MESSAGE_JOINS}
            JOIN conversations c ON c.id = m.conversation_id
            WHERE c.channel = $1 AND c.address = $2 AND m.client_ref = $3
            ORDER BY m.id DESC LIMIT 1""",
        channel,
        address,
        client_ref,
    )


async def messages(
    conn: asyncpg.Connection, conversation_ids: Sequence[int], after_id: int, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_MESSAGE} FROM conversation_messages m {_MESSAGE_JOINS}
            WHERE m.conversation_id = ANY($1::bigint[]) AND m.id > $2
            ORDER BY m.id LIMIT $3""",
        list(conversation_ids),
        after_id,
        limit,
    )


async def insert_attachment(
    conn: asyncpg.Connection, conversation_id: int, name: str, content_type: str, data: bytes
) -> int:
    return await conn.fetchval(
        """INSERT INTO conversation_attachments (conversation_id, name, content_type, size, data)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        conversation_id,
        name,
        content_type,
        len(data),
        data,
    )


async def get_attachment(conn: asyncpg.Connection, attachment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT a.id, a.conversation_id, a.name, a.content_type, a.size, a.data,
                  c.channel, c.address
           FROM conversation_attachments a JOIN conversations c ON c.id = a.conversation_id
           WHERE a.id = $1""",
        attachment_id,
    )


# --- blocking, offline messages -----------------------------------------------------------------


async def is_blocked(conn: asyncpg.Connection, channel: str, address: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM blocked_addresses WHERE channel = $1 AND address = $2)",
        channel,
        address,
    )


async def block(
    conn: asyncpg.Connection, channel: str, address: str, by: int, reason: str, at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO blocked_addresses (channel, address, blocked_by, reason, at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, address) DO NOTHING""",
        channel,
        address,
        by,
        reason,
        at,
    )


async def insert_offline(
    conn: asyncpg.Connection,
    *,
    channel: str,
    address: str,
    source: str,
    customer_id: int,
    department_id: int | None,
    name: str,
    contact: str,
    body: str,
    reason: str,
    client_ref: str | None,
    at: datetime,
) -> int | None:
    return await conn.fetchval(
        """INSERT INTO offline_messages (channel, address, source, customer_id, department_id,
               name, contact, body, reason, client_ref, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (channel, address, client_ref) DO NOTHING RETURNING id""",
        channel,
        address,
        source,
        customer_id,
        department_id,
        name,
        contact,
        body,
        reason,
        client_ref,
        at,
    )


async def list_offline(
    conn: asyncpg.Connection, department_ids: Sequence[int] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, channel, source, customer_id, department_id, name, contact, body, reason,
                  created_at FROM offline_messages
           WHERE $1::bigint[] IS NULL OR department_id = ANY($1::bigint[])
           ORDER BY created_at DESC, id DESC LIMIT $2""",
        None if department_ids is None else list(department_ids),
        limit,
    )


async def available_agents(conn: asyncpg.Connection, department_id: int) -> int:
    return await conn.fetchval(
        """SELECT count(*) FROM agents a JOIN agent_departments d ON d.agent_id = a.user_id
           JOIN users u ON u.id = a.user_id
           WHERE d.department_id = $1 AND a.status = 'available' AND u.active""",
        department_id,
    )


# --- web chat sites -----------------------------------------------------------------------------

_SITE = "key, name, department_id, allowed_origins, schedule::text AS schedule, created_at"


async def get_site(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_SITE} FROM webchat_sites WHERE key = $1", key)


async def list_sites(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_SITE} FROM webchat_sites ORDER BY name, key")


async def put_site(
    conn: asyncpg.Connection,
    key: str,
    name: str,
    department_id: int,
    allowed_origins: Sequence[str],
    schedule: dict[str, Any] | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO webchat_sites (key, name, department_id, allowed_origins, schedule)
            VALUES ($1, $2, $3, $4, $5::jsonb)
            ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name,
                department_id = EXCLUDED.department_id,
                allowed_origins = EXCLUDED.allowed_origins, schedule = EXCLUDED.schedule,
                updated_at = now()
            RETURNING {_SITE}""",
        key,
        name,
        department_id,
        list(allowed_origins),
        None if schedule is None else json.dumps(schedule),
    )


async def delete_site(conn: asyncpg.Connection, key: str) -> bool:
    return await conn.execute("DELETE FROM webchat_sites WHERE key = $1", key) != "DELETE 0"
