"""The call journal: writes every finished call, and reads the journal for the API."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from . import repository
from .events import CallEnded, CallRecord, Direction

__all__ = [
    "CSV_COLUMNS",
    "CallJournal",
    "CallPage",
    "InvalidCursor",
    "classify_direction",
    "endpoint_of",
]

log = logging.getLogger("pbx.journal")

CSV_COLUMNS = (
    "call_id",
    "started_at",
    "answered_at",
    "ended_at",
    "direction",
    "caller_number",
    "caller_name",
    "destination",
    "answered_by_number",
    "answered_by_name",
    "disposition",
    "outcome",
    "hangup_by",
    "hangup_cause",
    "ring_seconds",
    "talk_seconds",
    "transfers",
)
_EXPORT_PAGE = 1000


class InvalidCursor(ValueError):
    """A pagination cursor we did not issue."""


def endpoint_of(channel: str) -> str | None:
    """The device a channel belongs to: ``PJSIP/1001-0000002a`` → ``1001``.

    Asterisk names channels ``TECH/resource-sequence`` whatever the technology (SIP,
    IAX2, PJSIP); a resource with ``@`` is a dialplan location (a Local channel), not
    a device.
    """
    _, slash, rest = channel.partition("/")
    if not slash:
        return None
    resource = rest.rpartition("-")[0] or rest
    if not resource or "@" in resource:
        return None
    return resource


def classify_direction(record: CallRecord, internal: set[str]) -> Direction:
    """``internal`` holds the endpoints (and so extensions) of our own phones."""
    caller_endpoint = endpoint_of(record.caller.channel)
    if caller_endpoint not in internal and record.caller.number not in internal:
        return "inbound"
    if record.destination in internal:
        return "internal"
    return "outbound"


@dataclass(frozen=True)
class CallPage:
    calls: list[dict[str, Any]]
    next_cursor: str | None


class CallJournal:
    """Owns the journal's transactions; the bus subscriber and the HTTP API use it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> Any:
        """Register on the bus (``bus.subscribe``); returns what it returns."""
        return subscribe(CallEnded, self.on_call_ended)

    async def on_call_ended(self, event: CallEnded) -> None:
        await self.record(event.record)

    async def record(self, record: CallRecord) -> int | None:
        endpoints = sorted({e for c in record.channels if (e := endpoint_of(c)) is not None})
        async with self._pool.acquire() as conn, conn.transaction():
            internal = await repository.internal_endpoints(conn)
            direction = classify_direction(record, internal)
            row_id = await repository.insert_call(conn, record, direction, endpoints)
        log.info(
            "call journal written call_id=%s disposition=%s direction=%s",
            record.call_id,
            record.disposition,
            direction,
        )
        return row_id

    async def page(self, query: repository.CallQuery, limit: int) -> CallPage:
        async with self._pool.acquire() as conn:
            rows = await repository.list_calls(conn, query, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = _encode_cursor(rows[-1]["started_at"], rows[-1]["id"]) if more else None
        return CallPage([_row_json(r) for r in rows], cursor)

    async def seen(self, query: repository.CallQuery) -> set[int]:
        """The row ids of the calls matching ``query``: which of ``query.ids`` a reader
        (``query``'s visible_* filters) may see."""
        async with self._pool.acquire() as conn:
            return await repository.call_ids(conn, query)

    async def export_csv(self, query: repository.CallQuery) -> AsyncIterator[bytes]:
        """The whole selection as CSV, read page by page so memory stays flat."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        while True:
            async with self._pool.acquire() as conn:
                rows = await repository.list_calls(conn, query, _EXPORT_PAGE)
            for row in rows:
                data = _row_json(row)
                data["transfers"] = json.dumps(data["transfers"], ensure_ascii=False)
                writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            if len(rows) < _EXPORT_PAGE:
                return
            query = replace(query, before=(rows[-1]["started_at"], rows[-1]["id"]))


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        at, _, row_id = raw.decode().partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def _encode_cursor(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "call_id": row["call_id"],
        "caller_number": row["caller_number"],
        "caller_name": row["caller_name"],
        "caller_channel": row["caller_channel"],
        "destination": row["destination"],
        "direction": row["direction"],
        "answered_by_number": row["answered_by_number"],
        "answered_by_name": row["answered_by_name"],
        "answered_by_channel": row["answered_by_channel"],
        "started_at": _iso(row["started_at"]),
        "answered_at": _iso(row["answered_at"]),
        "ended_at": _iso(row["ended_at"]),
        "ring_seconds": round(row["ring_seconds"], 3),
        "talk_seconds": round(row["talk_seconds"], 3),
        "disposition": row["disposition"],
        "outcome": row["outcome"],
        "ivr_path": list(row["ivr_path"] or []),
        "hangup_by": row["hangup_by"],
        "hangup_cause": row["hangup_cause"],
        "hangup_cause_text": row["hangup_cause_text"],
        "transfers": json.loads(row["transfers"]),
        "endpoints": list(row["endpoints"]),
        "closed_by_resync": row["closed_by_resync"],
        "recording_id": row["recording_id"],
        "interaction_id": row["interaction_id"],
    }
