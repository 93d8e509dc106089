"""SQL of the IVR. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

# --- menus -----------------------------------------------------------------------------


async def get_menu(conn: asyncpg.Connection, number: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT number, document::text AS document, version, updated_at
           FROM ivr_menus WHERE number = $1""",
        number,
    )


async def list_menus(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT number, document::text AS document, version, updated_at
           FROM ivr_menus ORDER BY number"""
    )


async def put_menu(
    conn: asyncpg.Connection, number: str, document: Mapping[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO ivr_menus (number, document) VALUES ($1, $2::jsonb)
           ON CONFLICT (number) DO UPDATE SET document = excluded.document,
               version = ivr_menus.version + 1, updated_at = now()
           RETURNING number, document::text AS document, version, updated_at""",
        number,
        json.dumps(document),
    )


async def delete_menu(conn: asyncpg.Connection, number: str) -> bool:
    return await conn.execute("DELETE FROM ivr_menus WHERE number = $1", number) == "DELETE 1"


async def menus_using_prompt(conn: asyncpg.Connection, ref: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT number FROM ivr_menus WHERE position($1 in document::text) > 0 ORDER BY number",
        json.dumps(ref),
    )
    return [r["number"] for r in rows]


# --- prompts ---------------------------------------------------------------------------


async def put_prompt(
    conn: asyncpg.Connection, name: str, path: str, duration_s: float
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO ivr_prompts (name, path, duration_s) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET path = excluded.path,
               duration_s = excluded.duration_s, uploaded_at = now()
           RETURNING name, path, duration_s, uploaded_at""",
        name,
        path,
        duration_s,
    )


async def list_prompts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT name, path, duration_s, uploaded_at FROM ivr_prompts ORDER BY name"
    )


async def delete_prompt(conn: asyncpg.Connection, name: str) -> str | None:
    return await conn.fetchval("DELETE FROM ivr_prompts WHERE name = $1 RETURNING path", name)


# --- calls -----------------------------------------------------------------------------


async def start_call(
    conn: asyncpg.Connection,
    call_id: str,
    number: str,
    caller_number: str | None,
    started_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO ivr_calls (call_id, number, caller_number, started_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT (call_id) DO NOTHING""",
        call_id,
        number,
        caller_number,
        started_at,
    )


async def finish_call(
    conn: asyncpg.Connection,
    call_id: str,
    *,
    customer_id: int | None,
    ended_at: datetime,
    path: Sequence[str],
    outcome: str,
    interaction_id: int | None,
) -> None:
    """The IVR's facts about an ended call, and the journal row if it exists already
    (a journal row written later takes them from ivr_calls: see migration 0040)."""
    await conn.execute(
        """UPDATE ivr_calls SET customer_id = $2, ended_at = $3, ivr_path = $4, outcome = $5,
               interaction_id = coalesce($6, interaction_id), updated_at = now()
           WHERE call_id = $1""",
        call_id,
        customer_id,
        ended_at,
        list(path),
        outcome,
        interaction_id,
    )
    await conn.execute(
        """UPDATE calls c SET outcome = i.outcome, ivr_path = i.ivr_path,
               interaction_id = coalesce(c.interaction_id, i.interaction_id)
           FROM ivr_calls i WHERE i.call_id = $1 AND c.call_id = $1""",
        call_id,
    )


# --- voicemail -------------------------------------------------------------------------


async def insert_voicemail(
    conn: asyncpg.Connection,
    *,
    call_id: str,
    number: str,
    caller_number: str | None,
    customer_id: int | None,
    department_id: int | None,
    path: str,
    duration_s: float,
    recorded_at: datetime,
) -> int:
    return await conn.fetchval(
        """INSERT INTO voicemails (call_id, number, caller_number, customer_id, department_id,
               path, duration_s, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        call_id,
        number,
        caller_number,
        customer_id,
        department_id,
        path,
        duration_s,
        recorded_at,
    )


async def mark_notified(
    conn: asyncpg.Connection, voicemail_id: int, at: datetime | None, error: str | None
) -> None:
    await conn.execute(
        "UPDATE voicemails SET notified_at = $2, notify_error = $3 WHERE id = $1",
        voicemail_id,
        at,
        error,
    )


async def list_voicemails(
    conn: asyncpg.Connection, limit: int, departments: Sequence[int] | None = None
) -> list[asyncpg.Record]:
    """The newest ``limit`` messages, of ``departments`` only when given (None: all)."""
    return await conn.fetch(
        """SELECT id, call_id, number, caller_number, customer_id, department_id, path,
                  duration_s, recorded_at, notified_at, notify_error
           FROM voicemails
           WHERE $2::bigint[] IS NULL OR department_id = ANY($2::bigint[])
           ORDER BY recorded_at DESC, id DESC LIMIT $1""",
        limit,
        None if departments is None else list(departments),
    )


async def get_voicemail(conn: asyncpg.Connection, voicemail_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM voicemails WHERE id = $1", voicemail_id)


# --- agents' phones --------------------------------------------------------------------


async def endpoints_of(conn: asyncpg.Connection, agent_ids: Sequence[int]) -> dict[int, str]:
    rows = await conn.fetch(
        "SELECT user_id, sip_endpoint FROM agents WHERE user_id = ANY($1::bigint[])",
        list(agent_ids),
    )
    return {r["user_id"]: r["sip_endpoint"] for r in rows}


async def agent_of_endpoint(conn: asyncpg.Connection, endpoint: str) -> int | None:
    return await conn.fetchval("SELECT user_id FROM agents WHERE sip_endpoint = $1", endpoint)


async def existing_departments(conn: asyncpg.Connection, ids: Sequence[int]) -> set[int]:
    rows = await conn.fetch("SELECT id FROM departments WHERE id = ANY($1::bigint[])", list(ids))
    return {r["id"] for r in rows}
