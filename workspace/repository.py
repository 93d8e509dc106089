"""SQL of the workspace. Functions take a connection; the caller owns the transaction.

Besides its own tables (streams, canned responses, wrap-ups), the workspace reads
routing's interactions and agents (what an agent holds, whom to transfer to): read-only,
never written. Who may see what is crm_connectors.access's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

# --- streams -----------------------------------------------------------------------------


async def reserve_seqs(
    conn: asyncpg.Connection, user_ids: Sequence[int], counts: Sequence[int]
) -> dict[int, int]:
    """Take ``counts`` more sequence numbers for each user; returns each one's new last.
    The stream rows stay locked until the transaction ends (in user id order, so two
    writers never wait for each other in a circle)."""
    rows = await conn.fetch(
        """INSERT INTO workspace_streams AS s (user_id, seq)
           SELECT u, n FROM unnest($1::bigint[], $2::bigint[]) AS t (u, n) ORDER BY u
           ON CONFLICT (user_id) DO UPDATE SET seq = s.seq + EXCLUDED.seq
           RETURNING user_id, seq""",
        list(user_ids),
        list(counts),
    )
    return {r["user_id"]: r["seq"] for r in rows}


async def insert_events(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[int, int, str, str, str | None]],
    at: datetime,
) -> set[tuple[int, int]]:
    """Store (user, seq, kind, payload JSON, key) rows; returns the (user, seq) stored —
    a row whose key the user's stream holds already is left out."""
    if not rows:
        return set()
    users, seqs, kinds, payloads, keys = (list(c) for c in zip(*rows, strict=True))
    stored = await conn.fetch(
        """INSERT INTO workspace_events (user_id, seq, kind, payload, key, at)
           SELECT u, s, k, p::jsonb, key, $6
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])
                AS t (u, s, k, p, key)
           ON CONFLICT (user_id, key) DO NOTHING
           RETURNING user_id, seq""",
        users,
        seqs,
        kinds,
        payloads,
        keys,
        at,
    )
    return {(r["user_id"], r["seq"]) for r in stored}


async def events_between(
    conn: asyncpg.Connection, user_id: int, after: int, before: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT user_id, seq, kind, payload::text AS payload, at FROM workspace_events
           WHERE user_id = $1 AND seq > $2 AND ($3::bigint IS NULL OR seq < $3)
           ORDER BY seq LIMIT $4""",
        user_id,
        after,
        before,
        limit,
    )


async def stream_head(conn: asyncpg.Connection, user_id: int) -> int:
    return await conn.fetchval(
        "SELECT coalesce((SELECT seq FROM workspace_streams WHERE user_id = $1), 0)", user_id
    )


async def oldest_seq(conn: asyncpg.Connection, user_id: int) -> int | None:
    return await conn.fetchval("SELECT min(seq) FROM workspace_events WHERE user_id = $1", user_id)


async def holders(conn: asyncpg.Connection, interaction_ids: Sequence[int]) -> dict[int, int]:
    """The agent holding each interaction (accepted or in wrap-up), where one does."""
    rows = await conn.fetch(
        """SELECT id, agent_id FROM interactions
           WHERE id = ANY($1::bigint[]) AND state IN ('accepted', 'wrap_up')
             AND agent_id IS NOT NULL""",
        list(interaction_ids),
    )
    return {r["id"]: r["agent_id"] for r in rows}


async def prune_events(conn: asyncpg.Connection, before: datetime) -> int:
    status = await conn.execute("DELETE FROM workspace_events WHERE at < $1", before)
    return int(status.split()[-1])


# --- what the agent holds ---------------------------------------------------------------------


async def interactions_of_agent(conn: asyncpg.Connection, agent_id: int) -> list[int]:
    """Interactions the agent holds now."""
    rows = await conn.fetch(
        """SELECT id FROM interactions WHERE agent_id = $1 AND state IN ('accepted', 'wrap_up')
           ORDER BY accepted_at, id""",
        agent_id,
    )
    return [r["id"] for r in rows]


async def colleagues(conn: asyncpg.Connection, departments: Sequence[int]) -> list[asyncpg.Record]:
    """Agents a conversation or call may be transferred to."""
    return await conn.fetch(
        """SELECT DISTINCT a.user_id, u.username, u.display_name, a.sip_endpoint, a.status
           FROM agents a JOIN users u ON u.id = a.user_id
           LEFT JOIN agent_departments d ON d.agent_id = a.user_id
           WHERE u.active AND (cardinality($1::bigint[]) = 0 OR d.department_id = ANY($1::bigint[]))
           ORDER BY u.display_name, u.username""",
        list(departments),
    )


async def agent_departments(conn: asyncpg.Connection, agent_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT department_id FROM agent_departments WHERE agent_id = $1 ORDER BY 1", agent_id
    )
    return [r["department_id"] for r in rows]


async def endpoints(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT sip_endpoint, user_id FROM agents")
    return {r["sip_endpoint"]: r["user_id"] for r in rows}


# --- canned responses, dispositions, wrap-ups -------------------------------------------------


async def canned_responses(
    conn: asyncpg.Connection, departments: Sequence[int] | None
) -> list[asyncpg.Record]:
    """All of them (``departments`` None), or the general ones and those of ``departments``."""
    return await conn.fetch(
        """SELECT id, title, body, department_id FROM canned_responses
           WHERE $1::bigint[] IS NULL OR department_id IS NULL OR department_id = ANY($1::bigint[])
           ORDER BY title, id""",
        None if departments is None else list(departments),
    )


async def insert_canned(
    conn: asyncpg.Connection, title: str, body: str, department_id: int | None
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO canned_responses (title, body, department_id) VALUES ($1, $2, $3)
           RETURNING id, title, body, department_id""",
        title,
        body,
        department_id,
    )


async def update_canned(
    conn: asyncpg.Connection, canned_id: int, title: str, body: str, department_id: int | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE canned_responses SET title = $2, body = $3, department_id = $4,
               updated_at = now()
           WHERE id = $1 RETURNING id, title, body, department_id""",
        canned_id,
        title,
        body,
        department_id,
    )


async def delete_canned(conn: asyncpg.Connection, canned_id: int) -> bool:
    return await conn.execute("DELETE FROM canned_responses WHERE id = $1", canned_id) != "DELETE 0"


async def dispositions(conn: asyncpg.Connection, *, active_only: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT code, label, active, position FROM disposition_codes
           WHERE active OR NOT $1 ORDER BY position, code""",
        active_only,
    )


async def put_disposition(
    conn: asyncpg.Connection, code: str, label: str, active: bool, position: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO disposition_codes (code, label, active, position) VALUES ($1, $2, $3, $4)
           ON CONFLICT (code) DO UPDATE SET label = EXCLUDED.label, active = EXCLUDED.active,
               position = EXCLUDED.position
           RETURNING code, label, active, position""",
        code,
        label,
        active,
        position,
    )


async def handled_by(conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record | None:
    """The interaction's agent and state, for the wrap-up form."""
    return await conn.fetchrow(
        "SELECT agent_id, state, channel, customer_id FROM interactions WHERE id = $1",
        interaction_id,
    )


async def save_wrapup(
    conn: asyncpg.Connection,
    interaction_id: int,
    agent_id: int,
    disposition: str,
    notes: str,
    at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO wrapups (interaction_id, agent_id, disposition, notes, at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (interaction_id) DO UPDATE SET agent_id = EXCLUDED.agent_id,
               disposition = EXCLUDED.disposition, notes = EXCLUDED.notes, at = EXCLUDED.at""",
        interaction_id,
        agent_id,
        disposition,
        notes,
        at,
    )
