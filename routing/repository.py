"""SQL of the unified queue. Functions take a connection; the caller owns the transaction.

Lock order, everywhere: an interaction before the agents, and several agents in
``user_id`` order — except where an interaction is taken with SKIP LOCKED, which never
waits. Every function that changes an agent's ``load`` does it together with the offers
whose units it counts, so ``load`` always equals the cost of the agent's offers that are
open or accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from .models import Interaction
from .states import WAITING

# Literal in the SQL (not a parameter) so the planner can use the partial indexes.
_WAITING_SQL = "(" + ", ".join(f"'{s}'" for s in WAITING) + ")"
_OPEN_OFFER_STATES = ["offered", "accepted"]

_INTERACTION_FIELDS = (
    "id",
    "channel",
    "customer_id",
    "department_id",
    "skills::text AS skills",
    "priority",
    "state",
    "enqueued_at",
    "rank_at",
    "wait_deadline",
    "preferred_agent_id",
    "sticky_until",
    "external_refs::text AS external_refs",
    "agent_id",
    "offer_id",
    "offers_made",
    "requeues",
    "accepted_at",
    "wrapup_until",
    "ended_at",
    "end_reason",
    "overflow_target",
    "declined_by",
    "version",
)


def _interaction_columns(table: str = "") -> str:
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + field for field in _INTERACTION_FIELDS)


INTERACTION_COLUMNS = _interaction_columns()


def json_mapping(value: Mapping[str, Any]) -> str:
    """A mapping as the JSON text a jsonb parameter takes."""
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True)


def _mapping(text: str) -> dict[str, Any]:
    return {} if text == "{}" else json.loads(text)


def interaction_from_row(row: asyncpg.Record) -> Interaction:
    return Interaction(
        id=row["id"],
        channel=row["channel"],
        customer_id=row["customer_id"],
        department_id=row["department_id"],
        skills=_mapping(row["skills"]),
        priority=row["priority"],
        state=row["state"],
        enqueued_at=row["enqueued_at"],
        rank_at=row["rank_at"],
        wait_deadline=row["wait_deadline"],
        preferred_agent_id=row["preferred_agent_id"],
        sticky_until=row["sticky_until"],
        external_refs=_mapping(row["external_refs"]),
        agent_id=row["agent_id"],
        offer_id=row["offer_id"],
        offers_made=row["offers_made"],
        requeues=row["requeues"],
        accepted_at=row["accepted_at"],
        wrapup_until=row["wrapup_until"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        overflow_target=row["overflow_target"],
        declined_by=tuple(row["declined_by"]),
        version=row["version"],
    )


def mapping_from_json(text: str) -> dict[str, Any]:
    return _mapping(text)


# --- departments -------------------------------------------------------------------


async def insert_department(
    conn: asyncpg.Connection, name: str, settings: Mapping[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO departments (name, settings) VALUES ($1, $2::jsonb)
           RETURNING id, name, settings::text AS settings, version""",
        name,
        json.dumps(settings),
    )


async def get_department(conn: asyncpg.Connection, department_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, name, settings::text AS settings, version FROM departments WHERE id = $1",
        department_id,
    )


async def lock_department(conn: asyncpg.Connection, department_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT id, name, settings::text AS settings, version FROM departments
           WHERE id = $1 FOR NO KEY UPDATE""",
        department_id,
    )


async def list_departments(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, name, settings::text AS settings, version FROM departments ORDER BY name"
    )


async def update_department(
    conn: asyncpg.Connection, department_id: int, name: str, settings: Mapping[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE departments SET name = $2, settings = $3::jsonb, version = version + 1,
               updated_at = now()
           WHERE id = $1 RETURNING id, name, settings::text AS settings, version""",
        department_id,
        name,
        json.dumps(settings),
    )


async def department_supervisors(conn: asyncpg.Connection, department_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT user_id FROM department_supervisors WHERE department_id = $1 ORDER BY user_id",
        department_id,
    )
    return [r["user_id"] for r in rows]


async def set_department_supervisors(
    conn: asyncpg.Connection, department_id: int, user_ids: Iterable[int]
) -> None:
    await conn.execute("DELETE FROM department_supervisors WHERE department_id = $1", department_id)
    await conn.execute(
        """INSERT INTO department_supervisors (department_id, user_id)
           SELECT $1, u FROM unnest($2::bigint[]) AS u""",
        department_id,
        list(user_ids),
    )


async def supervised_departments(conn: asyncpg.Connection, user_id: int) -> set[int]:
    rows = await conn.fetch(
        "SELECT department_id FROM department_supervisors WHERE user_id = $1", user_id
    )
    return {r["department_id"] for r in rows}


async def existing_users(conn: asyncpg.Connection, user_ids: Sequence[int]) -> set[int]:
    rows = await conn.fetch("SELECT id FROM users WHERE id = ANY($1::bigint[])", list(user_ids))
    return {r["id"] for r in rows}


async def waiting_to_rerank(
    conn: asyncpg.Connection, department_id: int | None = None, limit: int = 1000
) -> list[asyncpg.Record]:
    """Waiting interactions ranked under settings older than their department's."""
    return await conn.fetch(
        f"""SELECT i.id, i.channel, i.priority, i.enqueued_at, i.department_id, d.version
            FROM interactions i JOIN departments d ON d.id = i.department_id
            WHERE i.state IN {_WAITING_SQL} AND i.settings_version <> d.version
              AND ($1::bigint IS NULL OR i.department_id = $1)
            LIMIT $2
            FOR NO KEY UPDATE OF i SKIP LOCKED""",
        department_id,
        limit,
    )


async def rerank(
    conn: asyncpg.Connection,
    ids: Sequence[int],
    rank_at: Sequence[datetime],
    deadlines: Sequence[datetime | None],
    versions: Sequence[int],
) -> None:
    await conn.execute(
        """UPDATE interactions i SET rank_at = r.rank_at, wait_deadline = r.deadline,
               settings_version = r.version, version = i.version + 1
           FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::int[])
               AS r(id, rank_at, deadline, version)
           WHERE i.id = r.id""",
        list(ids),
        list(rank_at),
        list(deadlines),
        list(versions),
    )


# --- agents --------------------------------------------------------------------------

_AGENT_STATE = """user_id, status, pause_reason, status_changed_at, capacity, load,
    missed_offers"""


async def agent_state(conn: asyncpg.Connection, agent_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_AGENT_STATE} FROM agents WHERE user_id = $1", agent_id)


async def lock_agents(conn: asyncpg.Connection, agent_ids: Iterable[int]) -> list[asyncpg.Record]:
    """Lock agents in ``user_id`` order (the order every transaction locks them in)."""
    return await conn.fetch(
        f"""SELECT {_AGENT_STATE} FROM agents WHERE user_id = ANY($1::bigint[])
            ORDER BY user_id FOR NO KEY UPDATE""",
        sorted(set(agent_ids)),
    )


async def set_agent_status(
    conn: asyncpg.Connection,
    agent_id: int,
    status: str,
    reason: str | None,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""UPDATE agents SET status = $2, pause_reason = $3, status_changed_at = $4,
               missed_offers = CASE WHEN $2 = 'available' THEN 0 ELSE missed_offers END,
               idle_since = CASE WHEN $2 = 'available' AND status <> 'available' AND load = 0
                                 THEN $4 ELSE idle_since END
           WHERE user_id = $1 RETURNING {_AGENT_STATE}""",
        agent_id,
        status,
        reason,
        now,
    )


async def agent_profile(conn: asyncpg.Connection, agent_id: int) -> asyncpg.Record | None:
    rows = await agent_profiles(conn, [agent_id])
    return rows[0] if rows else None


async def agent_profiles(
    conn: asyncpg.Connection, agent_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT a.user_id, a.profile_version, a.capacity, a.wrapup_s,
                  a.channel_costs::text AS channel_costs,
                  coalesce((SELECT array_agg(d.department_id ORDER BY d.department_id)
                            FROM agent_departments d WHERE d.agent_id = a.user_id), '{}')
                      AS departments,
                  coalesce((SELECT jsonb_object_agg(s.skill, s.level)
                            FROM agent_skills s WHERE s.agent_id = a.user_id), '{}')::text
                      AS skills
           FROM agents a WHERE a.user_id = ANY($1::bigint[])""",
        list(agent_ids),
    )


async def update_agent_profile(
    conn: asyncpg.Connection,
    agent_id: int,
    capacity: int,
    channel_costs: Mapping[str, int],
    wrapup_s: float | None,
    departments: Iterable[int],
    skills: Mapping[str, int],
) -> None:
    await conn.execute(
        """UPDATE agents SET capacity = $2, channel_costs = $3::jsonb, wrapup_s = $4,
               profile_version = profile_version + 1, updated_at = now()
           WHERE user_id = $1""",
        agent_id,
        capacity,
        json_mapping(channel_costs),
        wrapup_s,
    )
    await conn.execute("DELETE FROM agent_departments WHERE agent_id = $1", agent_id)
    await conn.execute(
        """INSERT INTO agent_departments (agent_id, department_id)
           SELECT $1, d FROM unnest($2::bigint[]) AS d""",
        agent_id,
        sorted(set(departments)),
    )
    await conn.execute("DELETE FROM agent_skills WHERE agent_id = $1", agent_id)
    await conn.execute(
        """INSERT INTO agent_skills (agent_id, skill, level)
           SELECT $1, s, l FROM unnest($2::text[], $3::smallint[]) AS x(s, l)""",
        agent_id,
        list(skills),
        list(skills.values()),
    )


async def existing_departments(conn: asyncpg.Connection, ids: Iterable[int]) -> set[int]:
    rows = await conn.fetch("SELECT id FROM departments WHERE id = ANY($1::bigint[])", list(ids))
    return {r["id"] for r in rows}


async def start_batch(
    conn: asyncpg.Connection, lock_key: int, page_size: int, now: datetime, *, wait: bool = True
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]] | None:
    """Take the routers' session lock and read the head of the queue and the available
    agents with room (migration 0023). The lock stays held only when both are non-empty;
    then the caller ends the batch with ``assign`` or ``release_router_lock``. Without
    ``wait``: None, with nothing read and no lock taken, while another session holds it."""
    rows = await conn.fetch(
        "SELECT * FROM routing_batch_start($1, $2, $3, $4)", lock_key, page_size, now, wait
    )
    if rows and rows[0]["kind"] == "busy":
        return None
    waiting = [r for r in rows if r["kind"] == "waiting"]
    agents = [r for r in rows if r["kind"] == "agent"]
    return waiting, agents


async def release_router_lock(conn: asyncpg.Connection, lock_key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)


# --- interactions --------------------------------------------------------------------


async def insert_interaction(
    conn: asyncpg.Connection,
    *,
    channel: str,
    customer_id: int,
    department_id: int,
    skills: Mapping[str, int],
    priority: int,
    enqueued_at: datetime,
    rank_at: datetime,
    settings_version: int,
    wait_deadline: datetime | None,
    preferred_agent_id: int | None,
    sticky_until: datetime | None,
    external_refs: Mapping[str, str],
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO interactions (channel, customer_id, department_id, skills, priority,
                state, enqueued_at, rank_at, settings_version, wait_deadline,
                preferred_agent_id, sticky_until, external_refs, updated_at)
            VALUES ($1, $2, $3, $4::jsonb, $5, 'queued', $6, $7, $8, $9, $10, $11, $12::jsonb, $6)
            RETURNING {INTERACTION_COLUMNS}""",
        channel,
        customer_id,
        department_id,
        json_mapping(skills),
        priority,
        enqueued_at,
        rank_at,
        settings_version,
        wait_deadline,
        preferred_agent_id,
        sticky_until,
        json_mapping(external_refs),
    )


async def insert_interactions(
    conn: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]
) -> list[asyncpg.Record]:
    """``insert_interaction`` for several, in one statement; rows in the order given."""
    columns = list(
        zip(
            *(
                (
                    r["channel"],
                    r["customer_id"],
                    r["department_id"],
                    json_mapping(r["skills"]),
                    r["priority"],
                    r["enqueued_at"],
                    r["rank_at"],
                    r["settings_version"],
                    r["wait_deadline"],
                    r["preferred_agent_id"],
                    r["sticky_until"],
                    json_mapping(r["external_refs"]),
                )
                for r in rows
            ),
            strict=True,
        )
    )
    inserted = await conn.fetch(
        f"""INSERT INTO interactions (channel, customer_id, department_id, skills, priority,
                state, enqueued_at, rank_at, settings_version, wait_deadline,
                preferred_agent_id, sticky_until, external_refs, updated_at)
            SELECT n.channel, n.customer_id, n.department_id, n.skills::jsonb, n.priority,
                   'queued', n.enqueued_at, n.rank_at, n.settings_version, n.wait_deadline,
                   n.preferred_agent_id, n.sticky_until, n.external_refs::jsonb, n.enqueued_at
            FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::int[],
                        $6::timestamptz[], $7::timestamptz[], $8::int[], $9::timestamptz[],
                        $10::bigint[], $11::timestamptz[], $12::text[])
                WITH ORDINALITY AS n(channel, customer_id, department_id, skills, priority,
                    enqueued_at, rank_at, settings_version, wait_deadline, preferred_agent_id,
                    sticky_until, external_refs, n)
            ORDER BY n.n
            RETURNING {INTERACTION_COLUMNS}""",
        *(list(c) for c in columns),
    )
    # Ids are drawn in insertion order, which is the order given.
    return sorted(inserted, key=lambda r: r["id"])


async def get_interaction(conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1", interaction_id
    )


async def lock_interaction(conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1 FOR NO KEY UPDATE",
        interaction_id,
    )


async def update_interaction(
    conn: asyncpg.Connection, interaction_id: int, now: datetime, **columns: Any
) -> asyncpg.Record:
    """Set ``columns`` (names from this module's callers only), bumping the version."""
    names = list(columns)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    return await conn.fetchrow(
        f"""UPDATE interactions SET {sets}, version = version + 1, updated_at = $2
            WHERE id = $1 RETURNING {INTERACTION_COLUMNS}""",
        interaction_id,
        now,
        *columns.values(),
    )


async def waiting_page(
    conn: asyncpg.Connection,
    department_ids: Sequence[int] | None,
    channels: Sequence[str] | None,
    after: tuple[datetime, int] | None,
    limit: int,
    now: datetime,
) -> list[asyncpg.Record]:
    """Waiting interactions (of those departments and channels; None: all), in queue
    order after ``after``; not those past their max wait, which the sweep ends instead of
    offering them once more (migration 0025)."""
    after_rank, after_id = after if after is not None else (None, 0)
    return await conn.fetch(
        "SELECT * FROM routing_waiting_page($1, $2, $3, $4, $5, $6)",
        None if department_ids is None else list(department_ids),
        None if channels is None else list(channels),
        after_rank,
        after_id,
        limit,
        now,
    )


async def assign(
    conn: asyncpg.Connection,
    interaction_ids: Sequence[int],
    agent_ids: Sequence[int],
    costs: Sequence[int],
    versions: Sequence[int],
    modes: Sequence[str],
    expires_at: Sequence[datetime],
    automatic: Sequence[bool],
    now: datetime,
    lock_key: int,
) -> list[dict[str, Any]]:
    """Make the offers in one statement, its own transaction, and release the routers'
    lock taken by ``start_batch`` (migration 0024). Pairs whose interaction is taken or
    changed, or whose agent no longer has the room or is no longer available, are left
    out. Each offer made, in id order, with its interaction's channel, customer,
    department and external references."""
    rows = await conn.fetch(
        "SELECT * FROM routing_assign($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        list(interaction_ids),
        list(agent_ids),
        list(costs),
        list(versions),
        list(modes),
        list(expires_at),
        list(automatic),
        now,
        lock_key,
    )
    interactions = {r["interaction_id"]: r for r in rows if r["kind"] == "interaction"}
    offers = []
    for r in rows:
        if r["kind"] == "offer":
            i = interactions[r["interaction_id"]]
            offers.append(
                {
                    "id": r["id"],
                    "interaction_id": r["interaction_id"],
                    "agent_id": r["agent_id"],
                    "mode": r["mode"],
                    "state": r["state"],
                    "expires_at": r["expires_at"],
                    "channel": i["channel"],
                    "customer_id": i["customer_id"],
                    "department_id": i["department_id"],
                    "external_refs": i["external_refs"],
                }
            )
    return sorted(offers, key=lambda r: r["id"])


# --- offers ----------------------------------------------------------------------------

_OFFER_COLUMNS = """o.id, o.interaction_id, o.agent_id, o.cost, o.mode, o.state, o.offered_at,
    o.expires_at, i.channel"""


async def get_offer(conn: asyncpg.Connection, offer_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_OFFER_COLUMNS} FROM offers o JOIN interactions i ON i.id = o.interaction_id
            WHERE o.id = $1""",
        offer_id,
    )


async def open_offers_of_interaction(
    conn: asyncpg.Connection, interaction_id: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_OFFER_COLUMNS} FROM offers o JOIN interactions i ON i.id = o.interaction_id
            WHERE o.interaction_id = $1 AND o.state = ANY($2::text[]) ORDER BY o.id""",
        interaction_id,
        _OPEN_OFFER_STATES,
    )


async def offers_of_agent(
    conn: asyncpg.Connection, agent_id: int, states: Sequence[str]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_OFFER_COLUMNS} FROM offers o JOIN interactions i ON i.id = o.interaction_id
            WHERE o.agent_id = $1 AND o.state = ANY($2::text[]) ORDER BY o.id""",
        agent_id,
        list(states),
    )


async def accept_queue_offer(
    conn: asyncpg.Connection, offer_id: int, agent_id: int, now: datetime
) -> asyncpg.Record | None:
    """The common case in one statement: an open queue-mode offer accepted by its agent;
    returns the interaction. None when it is not that (the caller finds out why, or takes
    the general path).

    The interaction is updated first — its lock comes before the offer's — and only while
    this very offer is its open one, a condition PostgreSQL re-checks on the latest row if
    another transaction changed it meanwhile."""
    return await conn.fetchrow(
        f"""WITH i AS (
               UPDATE interactions SET state = 'accepted', accepted_at = $3,
                   version = version + 1, updated_at = $3
               WHERE id = (SELECT interaction_id FROM offers WHERE id = $1)
                 AND offer_id = $1 AND agent_id = $2 AND state = 'offered'
               RETURNING {INTERACTION_COLUMNS}
           ), o AS (
               UPDATE offers SET state = 'accepted', answered_at = $3
               WHERE id = $1 AND mode = 'queue' AND state = 'offered'
                 AND EXISTS (SELECT 1 FROM i)
           ), a AS (
               UPDATE agents SET missed_offers = 0
               WHERE user_id = $2 AND missed_offers <> 0 AND EXISTS (SELECT 1 FROM i)
           )
           SELECT * FROM i""",
        offer_id,
        agent_id,
        now,
    )


async def accept_queue_offers(
    conn: asyncpg.Connection, offer_ids: Sequence[int], agent_ids: Sequence[int], now: datetime
) -> list[asyncpg.Record]:
    """``accept_queue_offer`` for several offers (of different interactions) in one
    statement, its own transaction (migration 0024); the interactions accepted, each with
    the offer it was accepted by as its ``offer_id``. Agents are locked in ``user_id``
    order."""
    return await conn.fetch(
        "SELECT * FROM routing_accept_queue_offers($1, $2, $3)",
        list(offer_ids),
        list(agent_ids),
        now,
    )


async def set_offer_state(
    conn: asyncpg.Connection, offer_ids: Sequence[int], state: str, now: datetime
) -> None:
    """Move offers that stay open or stay accepted (no units change hands)."""
    await conn.execute(
        """UPDATE offers SET state = $2,
               answered_at = CASE WHEN $2 = 'accepted' THEN $3 ELSE answered_at END
           WHERE id = ANY($1::bigint[])""",
        list(offer_ids),
        state,
        now,
    )


async def end_offers(
    conn: asyncpg.Connection,
    offer_ids: Sequence[int],
    from_state: str,
    state: str,
    now: datetime,
) -> list[asyncpg.Record]:
    """End offers that are in ``from_state`` (offered: cancelled, declined, timed out;
    accepted: released) and give their units back to their agents.

    The caller holds the interactions' and (in user_id order) the agents' locks. Offers
    in another state are left alone; the ended ones are returned.
    """
    return await conn.fetch(
        """WITH o AS (
               UPDATE offers SET state = $2, ended_at = $3
               WHERE id = ANY($1::bigint[]) AND state = $4
               RETURNING id, interaction_id, agent_id, cost, mode
           ), t AS (
               SELECT agent_id, sum(cost) AS total FROM o GROUP BY agent_id
           ), a AS (
               UPDATE agents SET load = agents.load - t.total,
                   idle_since = CASE WHEN agents.load - t.total = 0 THEN $3
                                     ELSE agents.idle_since END
               FROM t WHERE agents.user_id = t.agent_id
           )
           SELECT id, interaction_id, agent_id, cost, mode FROM o ORDER BY id""",
        list(offer_ids),
        state,
        now,
        from_state,
    )


async def set_missed_offers(
    conn: asyncpg.Connection, agent_ids: Sequence[int], counts: Sequence[int]
) -> None:
    await conn.execute(
        """UPDATE agents SET missed_offers = m.n
           FROM unnest($1::bigint[], $2::int[]) AS m(agent_id, n)
           WHERE agents.user_id = m.agent_id""",
        list(agent_ids),
        list(counts),
    )


async def reset_missed_offers(conn: asyncpg.Connection, agent_id: int) -> None:
    await conn.execute(
        "UPDATE agents SET missed_offers = 0 WHERE user_id = $1 AND missed_offers <> 0", agent_id
    )


_FINISH = f"""
WITH cur AS (
    -- Read, not locked: the update below re-checks the version under the lock.
    SELECT i.id, i.version,
           CASE WHEN $2 = 'accepted' AND i.channel IN ('voice', 'callback')
                THEN coalesce(a.wrapup_s, $5) ELSE 0 END AS wrapup_s
    FROM interactions i JOIN agents a ON a.user_id = i.agent_id
    WHERE i.id = $1 AND i.state = $2 AND ($3::bigint IS NULL OR i.agent_id = $3)
), i AS (
    UPDATE interactions SET
        state = CASE WHEN cur.wrapup_s = 0 THEN 'completed' ELSE 'wrap_up' END,
        wrapup_until = CASE WHEN cur.wrapup_s > 0
                            THEN $4::timestamptz + cur.wrapup_s * interval '1 second' END,
        ended_at = CASE WHEN cur.wrapup_s = 0 THEN $4::timestamptz END,
        version = interactions.version + 1, updated_at = $4
    FROM cur WHERE interactions.id = cur.id AND interactions.version = cur.version
    RETURNING {_interaction_columns("interactions")}, cur.wrapup_s
), a AS (
    -- The agent before the offer: the audit log is ordered by each agent's lock. The
    -- offer is stable here: it changes only under the interaction's lock, held now.
    UPDATE agents SET load = agents.load - held.cost,
        idle_since = CASE WHEN agents.load - held.cost = 0 THEN $4 ELSE agents.idle_since END
    FROM (SELECT o.agent_id, o.cost FROM offers o JOIN i ON o.interaction_id = i.id
          WHERE o.state = 'accepted' AND i.wrapup_s = 0) held
    WHERE agents.user_id = held.agent_id
    RETURNING agents.user_id
), o AS (
    UPDATE offers SET state = 'released', ended_at = $4
    FROM i WHERE offers.interaction_id = i.id AND offers.state = 'accepted' AND i.wrapup_s = 0
      AND EXISTS (SELECT 1 FROM a)
)
SELECT * FROM i
"""


async def finish(
    conn: asyncpg.Connection,
    interaction_id: int,
    from_state: str,
    agent_id: int | None,
    now: datetime,
    default_wrapup_s: float,
) -> asyncpg.Record | None:
    """accepted → wrap_up (calls with wrap-up time) or completed; wrap_up → completed.

    Completing gives the units back. None when the interaction is not in ``from_state``
    (or not with ``agent_id``), or changed while this statement ran (try again).
    """
    return await conn.fetchrow(_FINISH, interaction_id, from_state, agent_id, now, default_wrapup_s)


async def complete_accepted(
    conn: asyncpg.Connection,
    interaction_ids: Sequence[int],
    agent_ids: Sequence[int | None],
    now: datetime,
    default_wrapup_s: float,
) -> list[asyncpg.Record]:
    """``finish`` from ``accepted`` for several interactions in one statement, its own
    transaction (migration 0024): the interactions finished (any other is left alone, and the caller
    finds out why). Agents are locked in ``user_id`` order."""
    return await conn.fetch(
        "SELECT * FROM routing_complete_accepted($1, $2, $3, $4)",
        list(interaction_ids),
        list(agent_ids),
        now,
        default_wrapup_s,
    )


async def interactions_to_expire_offers(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Interactions with an open offer past its time, locked (skipping locked ones)."""
    return await conn.fetch(
        f"""SELECT {INTERACTION_COLUMNS} FROM interactions
            WHERE id IN (SELECT interaction_id FROM offers
                         WHERE state = 'offered' AND expires_at <= $1
                         ORDER BY expires_at LIMIT $2)
              AND state = 'offered'
            ORDER BY id
            FOR NO KEY UPDATE SKIP LOCKED""",
        now,
        limit,
    )


async def expired_offers(
    conn: asyncpg.Connection, interaction_ids: Sequence[int], now: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_OFFER_COLUMNS} FROM offers o JOIN interactions i ON i.id = o.interaction_id
            WHERE o.interaction_id = ANY($1::bigint[]) AND o.state = 'offered'
              AND o.expires_at <= $2
            ORDER BY o.id""",
        list(interaction_ids),
        now,
    )


async def interactions_past_wrapup(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM interactions WHERE state = 'wrap_up' AND wrapup_until <= $1
           ORDER BY wrapup_until LIMIT $2""",
        now,
        limit,
    )
    return [r["id"] for r in rows]


async def interactions_past_deadline(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {INTERACTION_COLUMNS} FROM interactions
            WHERE state IN {_WAITING_SQL} AND wait_deadline <= $1
            ORDER BY wait_deadline LIMIT $2
            FOR NO KEY UPDATE SKIP LOCKED""",
        now,
        limit,
    )


async def agent_open_offer_interactions(conn: asyncpg.Connection, agent_id: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT DISTINCT interaction_id FROM offers
           WHERE agent_id = $1 AND state = 'offered' ORDER BY interaction_id""",
        agent_id,
    )
    return [r["interaction_id"] for r in rows]


async def lock_interactions(conn: asyncpg.Connection, ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = ANY($1::bigint[])
            ORDER BY id FOR NO KEY UPDATE""",
        sorted(set(ids)),
    )


# --- reading the queue ---------------------------------------------------------------


async def position(conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT i.state, i.department_id, i.channel,
                   CASE WHEN i.state IN {_WAITING_SQL} THEN
                       (SELECT count(*) FROM interactions j
                        WHERE j.state IN {_WAITING_SQL} AND j.department_id = i.department_id
                          AND (j.rank_at, j.id) < (i.rank_at, i.id))
                   END AS ahead
            FROM interactions i WHERE i.id = $1""",
        interaction_id,
    )


async def recent_handle_time_s(
    conn: asyncpg.Connection, department_id: int, channel: str, sample: int
) -> float | None:
    return await conn.fetchval(
        """SELECT avg(extract(epoch FROM ended_at - accepted_at))::float8 FROM (
               SELECT ended_at, accepted_at FROM interactions
               WHERE state = 'completed' AND department_id = $1 AND channel = $2
                 AND accepted_at IS NOT NULL
               ORDER BY ended_at DESC LIMIT $3) recent""",
        department_id,
        channel,
        sample,
    )


async def staffed_agents(conn: asyncpg.Connection, department_id: int) -> list[asyncpg.Record]:
    """The department's available agents, with what their capacity is made of."""
    return await conn.fetch(
        """SELECT a.user_id, a.capacity, a.channel_costs::text AS channel_costs
           FROM agents a JOIN agent_departments d ON d.agent_id = a.user_id
           WHERE d.department_id = $1 AND a.status = 'available'""",
        department_id,
    )


async def queue_counts(
    conn: asyncpg.Connection, department_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """Per department and channel: waiting, oldest enqueue time of those, in service."""
    return await conn.fetch(
        f"""SELECT department_id, channel, sum(waiting)::int AS waiting,
                   min(oldest) AS oldest, sum(in_service)::int AS in_service
            FROM (
                SELECT department_id, channel, count(*) AS waiting, min(enqueued_at) AS oldest,
                       0 AS in_service
                FROM interactions WHERE state IN {_WAITING_SQL}
                  AND department_id = ANY($1::bigint[])
                GROUP BY department_id, channel
                UNION ALL
                SELECT department_id, channel, 0, NULL, count(*)
                FROM interactions WHERE state IN ('offered', 'accepted', 'wrap_up')
                  AND department_id = ANY($1::bigint[])
                GROUP BY department_id, channel
            ) c
            GROUP BY department_id, channel ORDER BY department_id, channel""",
        list(department_ids),
    )


async def agent_board(
    conn: asyncpg.Connection, department_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT a.user_id, u.username, u.display_name, a.status, a.pause_reason,
                  a.status_changed_at, a.capacity, a.load,
                  array(SELECT d.department_id FROM agent_departments d
                        WHERE d.agent_id = a.user_id ORDER BY d.department_id) AS departments,
                  (SELECT count(*) FROM offers o
                   WHERE o.agent_id = a.user_id AND o.state = 'offered')::int AS offered,
                  (SELECT count(*) FROM offers o
                   WHERE o.agent_id = a.user_id AND o.state = 'accepted')::int AS handling
           FROM agents a JOIN users u ON u.id = a.user_id
           WHERE EXISTS (SELECT 1 FROM agent_departments d
                         WHERE d.agent_id = a.user_id AND d.department_id = ANY($1::bigint[]))
           ORDER BY u.username""",
        list(department_ids),
    )


async def all_department_ids(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch("SELECT id FROM departments ORDER BY id")
    return [r["id"] for r in rows]
