"""SQL of the call journal. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .events import CallRecord, Direction

_COLUMNS = """id, call_id, caller_number, caller_name, caller_channel, destination, direction,
    answered_by_number, answered_by_name, answered_by_channel, started_at, answered_at,
    ended_at, ring_seconds, talk_seconds, disposition, hangup_by, hangup_cause,
    hangup_cause_text, transfers, channels, endpoints, closed_by_resync, outcome,
    ivr_path, recording_id, interaction_id"""


@dataclass(frozen=True)
class CallQuery:
    """Filters of the journal list; ``None`` means "any"."""

    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None
    endpoint: str | None = None
    disposition: str | None = None
    outcome: str | None = None
    # Who reads (crm_connectors.access.CallScope). Both None: every call. Otherwise only
    # the calls this endpoint took part in, or whose interaction is of one of these
    # departments; a call of no interaction has no department.
    visible_to_endpoint: str | None = None
    visible_departments: tuple[int, ...] | None = None
    # Keyset cursor: rows strictly older than (started_at, id).
    before: tuple[datetime, int] | None = None
    # Only these rows (which of some calls a reader may see).
    ids: tuple[int, ...] | None = None


async def internal_endpoints(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT sip_endpoint FROM agents")
    return {r["sip_endpoint"] for r in rows}


async def insert_call(
    conn: asyncpg.Connection,
    record: CallRecord,
    direction: Direction,
    endpoints: list[str],
) -> int | None:
    """Store a finished call; returns its row id, or None if it was stored already."""
    answered = record.answered_by
    transfers = [
        {"kind": t.kind, "by_channel": t.by_channel, "to": t.to, "at": t.at.isoformat()}
        for t in record.transfers
    ]
    return await conn.fetchval(
        """INSERT INTO calls (call_id, caller_number, caller_name, caller_channel, destination,
               direction, answered_by_number, answered_by_name, answered_by_channel,
               started_at, answered_at, ended_at, ring_seconds, talk_seconds, disposition,
               hangup_by, hangup_cause, hangup_cause_text, transfers, channels, endpoints,
               closed_by_resync)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
               $18, $19::jsonb, $20, $21, $22)
           ON CONFLICT (call_id, started_at) DO NOTHING
           RETURNING id""",
        record.call_id,
        record.caller.number,
        record.caller.name,
        record.caller.channel,
        record.destination,
        direction,
        answered.number if answered else None,
        answered.name if answered else None,
        answered.channel if answered else None,
        record.started_at,
        record.answered_at,
        record.ended_at,
        record.ring_seconds,
        record.talk_seconds,
        record.disposition,
        record.hangup_by,
        record.hangup_cause,
        record.hangup_cause_text,
        json.dumps(transfers),
        list(record.channels),
        endpoints,
        record.closed_by_resync,
    )


async def list_calls(
    conn: asyncpg.Connection, query: CallQuery, limit: int | None
) -> list[asyncpg.Record]:
    """Calls matching ``query``, newest first; ``limit=None`` for all (CSV export)."""
    return await _select(conn, _COLUMNS, query, limit)


async def call_ids(conn: asyncpg.Connection, query: CallQuery) -> set[int]:
    """The row ids of the calls matching ``query``."""
    return {r["id"] for r in await _select(conn, "id", query, None)}


async def _select(
    conn: asyncpg.Connection, columns: str, query: CallQuery, limit: int | None
) -> list[asyncpg.Record]:
    where: list[str] = []
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.since is not None:
        where.append(f"started_at >= {arg(query.since)}")
    if query.until is not None:
        where.append(f"started_at < {arg(query.until)}")
    if query.number is not None:
        n = arg(query.number)
        where.append(f"(caller_number = {n} OR destination = {n} OR answered_by_number = {n})")
    if query.endpoint is not None:
        where.append(f"endpoints @> ARRAY[{arg(query.endpoint)}]::text[]")
    if query.visible_to_endpoint is not None or query.visible_departments is not None:
        seen = []
        if query.visible_to_endpoint is not None:
            seen.append(f"endpoints @> ARRAY[{arg(query.visible_to_endpoint)}]::text[]")
        if query.visible_departments:
            departments = arg(list(query.visible_departments))
            seen.append(
                f"""EXISTS (SELECT 1 FROM interactions i WHERE i.id = calls.interaction_id
                       AND i.department_id = ANY({departments}::bigint[]))"""
            )
        where.append("(" + " OR ".join(seen) + ")" if seen else "false")
    if query.disposition is not None:
        where.append(f"disposition = {arg(query.disposition)}")
    if query.outcome is not None:
        where.append(f"outcome = {arg(query.outcome)}")
    if query.before is not None:
        at, row_id = query.before
        where.append(f"(started_at, id) < ({arg(at)}, {arg(row_id)})")
    if query.ids is not None:
        where.append(f"id = ANY({arg(list(query.ids))}::bigint[])")
    sql = f"SELECT {columns} FROM calls"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_at DESC, id DESC"
    if limit is not None:
        sql += f" LIMIT {arg(limit)}"
    return await conn.fetch(sql, *args)
