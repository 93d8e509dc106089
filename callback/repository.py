"""SQL of the web callback. Every state change is one guarded statement: a transition
that already happened (another process, an event seen twice) changes no row."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

PENDING = ("queued", "scheduled", "calling")
FINAL = ("completed", "failed", "cancelled")


async def add_hit(conn: asyncpg.Connection, client_ip: str, at: datetime) -> None:
    await conn.execute("INSERT INTO callback_hits (client_ip, at) VALUES ($1, $2)", client_ip, at)


async def hits_since(conn: asyncpg.Connection, client_ip: str, since: datetime) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM callback_hits WHERE client_ip = $1 AND at > $2", client_ip, since
    )


async def requests_since(conn: asyncpg.Connection, phone: str, since: datetime) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM callback_requests WHERE phone = $1 AND created_at > $2",
        phone,
        since,
    )


async def pending_for_phone(conn: asyncpg.Connection, phone: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM callback_requests WHERE phone = $1 AND status = ANY($2::text[])",
        phone,
        list(PENDING),
    )


async def insert_request(
    conn: asyncpg.Connection,
    *,
    site: str,
    phone: str,
    name: str,
    page: str,
    comment: str,
    preferred_at: datetime | None,
    status: str,
    next_attempt_at: datetime | None,
    customer_id: int,
    department_id: int,
    priority: int,
    client_ip: str | None,
    now: datetime,
    cancel_key_sha256: bytes | None = None,
) -> asyncpg.Record | None:
    """None when the number has a pending request already (the caller reads that one)."""
    return await conn.fetchrow(
        """INSERT INTO callback_requests (site, phone, name, page, comment, preferred_at,
               status, next_attempt_at, customer_id, department_id, priority, client_ip,
               created_at, updated_at, cancel_key_sha256)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
           ON CONFLICT (phone) WHERE status IN ('queued', 'scheduled', 'calling') DO NOTHING
           RETURNING *""",
        site, phone, name, page, comment, preferred_at, status, next_attempt_at,
        customer_id, department_id, priority, client_ip, now, cancel_key_sha256,
    )  # fmt: skip


async def get(conn: asyncpg.Connection, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM callback_requests WHERE id = $1", request_id)


async def lock(conn: asyncpg.Connection, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM callback_requests WHERE id = $1 FOR UPDATE", request_id
    )


async def by_interaction(conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM callback_requests WHERE interaction_id = $1", interaction_id
    )


async def set_queued(
    conn: asyncpg.Connection, request_id: UUID, interaction_id: int, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE callback_requests SET status = 'queued', interaction_id = $2,
               offer_id = NULL, next_attempt_at = NULL, updated_at = $3
           WHERE id = $1 AND status IN ('queued', 'scheduled') RETURNING *""",
        request_id,
        interaction_id,
        now,
    )


async def due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Scheduled requests whose time has come, locked; other processes skip them."""
    return await conn.fetch(
        """SELECT * FROM callback_requests
           WHERE status = 'scheduled' AND next_attempt_at <= $1
           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )


async def postpone(
    conn: asyncpg.Connection, request_id: UUID, until: datetime, now: datetime
) -> None:
    await conn.execute(
        """UPDATE callback_requests SET next_attempt_at = $2, updated_at = $3
           WHERE id = $1 AND status = 'scheduled'""",
        request_id,
        until,
        now,
    )


async def claim_offer(
    conn: asyncpg.Connection, interaction_id: int, offer_id: int, now: datetime
) -> asyncpg.Record | None:
    """This process rings the agent of ``offer_id``: None if another did (or does), or
    if an attempt is still going on."""
    return await conn.fetchrow(
        """UPDATE callback_requests r SET status = 'calling', offer_id = $2, updated_at = $3
           WHERE r.interaction_id = $1 AND r.status IN ('queued', 'calling')
             AND r.offer_id IS DISTINCT FROM $2
             AND NOT EXISTS (SELECT 1 FROM callback_attempts a
                             WHERE a.request_id = r.id AND a.result IS NULL)
           RETURNING *""",
        interaction_id,
        offer_id,
        now,
    )


async def release_offer(
    conn: asyncpg.Connection, interaction_id: int, offer_id: int, now: datetime
) -> asyncpg.Record | None:
    """The agent's offer ended unanswered: the request waits again (routing kept its
    interaction's place)."""
    return await conn.fetchrow(
        """UPDATE callback_requests r SET status = 'queued', offer_id = NULL, updated_at = $3
           WHERE r.interaction_id = $1 AND r.offer_id = $2 AND r.status = 'calling'
             AND NOT EXISTS (SELECT 1 FROM callback_attempts a
                             WHERE a.request_id = r.id AND a.offer_id = $2)
           RETURNING *""",
        interaction_id,
        offer_id,
        now,
    )


async def start_attempt(
    conn: asyncpg.Connection,
    request: asyncpg.Record,
    *,
    offer_id: int,
    agent_id: int,
    channel: str,
    call_id: str,
    now: datetime,
) -> int:
    number = request["attempts"] + 1
    await conn.execute(
        """INSERT INTO callback_attempts (request_id, offer_id, number, agent_id,
               interaction_id, channel, call_id, started_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        request["id"], offer_id, number, agent_id, request["interaction_id"], channel,
        call_id, now,
    )  # fmt: skip
    await conn.execute(
        "UPDATE callback_requests SET attempts = $2, updated_at = $3 WHERE id = $1",
        request["id"],
        number,
        now,
    )
    return number


async def end_attempt(
    conn: asyncpg.Connection, request_id: UUID, offer_id: int, result: str, now: datetime
) -> asyncpg.Record | None:
    """The attempt's result, once: None if it was settled before (or never started)."""
    return await conn.fetchrow(
        """UPDATE callback_attempts SET result = $3, ended_at = $4
           WHERE request_id = $1 AND offer_id = $2 AND result IS NULL RETURNING *""",
        request_id,
        offer_id,
        result,
        now,
    )


async def has_open_attempt(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM callback_attempts WHERE request_id = $1 AND result IS NULL)",
        request_id,
    )


async def open_attempts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM callback_attempts WHERE result IS NULL ORDER BY started_at"
    )


async def finish(
    conn: asyncpg.Connection, request_id: UUID, status: str, outcome: str, now: datetime
) -> asyncpg.Record | None:
    """A final status, once: None if the request had ended already."""
    return await conn.fetchrow(
        """UPDATE callback_requests SET status = $2, outcome = $3, ended_at = $4,
               updated_at = $4, offer_id = NULL, next_attempt_at = NULL
           WHERE id = $1 AND status IN ('queued', 'scheduled', 'calling') RETURNING *""",
        request_id,
        status,
        outcome,
        now,
    )


async def reschedule(
    conn: asyncpg.Connection, request_id: UUID, at: datetime, outcome: str, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE callback_requests SET status = 'scheduled', next_attempt_at = $2,
               outcome = $3, offer_id = NULL, updated_at = $4
           WHERE id = $1 AND status = 'calling' RETURNING *""",
        request_id,
        at,
        outcome,
        now,
    )


async def stale_calling(conn: asyncpg.Connection, before: datetime) -> list[asyncpg.Record]:
    """Requests ringing an agent (no attempt going on) since before ``before``."""
    return await conn.fetch(
        """SELECT r.*, o.state AS offer_state FROM callback_requests r
           LEFT JOIN offers o ON o.id = r.offer_id
           WHERE r.status = 'calling' AND r.updated_at < $1
             AND NOT EXISTS (SELECT 1 FROM callback_attempts a
                             WHERE a.request_id = r.id AND a.result IS NULL)""",
        before,
    )


async def endpoint_of_agent(conn: asyncpg.Connection, agent_id: int) -> str | None:
    return await conn.fetchval("SELECT sip_endpoint FROM agents WHERE user_id = $1", agent_id)


async def agent_of_endpoint(conn: asyncpg.Connection, endpoint: str) -> int | None:
    return await conn.fetchval("SELECT user_id FROM agents WHERE sip_endpoint = $1", endpoint)


async def mark_journal(
    conn: asyncpg.Connection, call_id: str, interaction_id: int, outcome: str
) -> None:
    """The journal row of an attempt's call, if written already (else when it is)."""
    await conn.execute(
        """UPDATE calls SET outcome = $3, interaction_id = $2
           WHERE call_id = $1 AND outcome IS DISTINCT FROM $3""",
        call_id,
        interaction_id,
        outcome,
    )


async def attempt_of_call(conn: asyncpg.Connection, call_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM callback_attempts WHERE call_id = $1 AND result IS NOT NULL
           ORDER BY started_at DESC LIMIT 1""",
        call_id,
    )
