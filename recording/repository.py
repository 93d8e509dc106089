"""SQL of recordings and transcripts. Functions take a connection; the caller owns the
transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .dialogue import dialogue_from_json, locate_phrase

_NAMES = (
    "id", "call_id", "department_id", "customer_leg", "agent_leg", "legs_removed_at", "state",
    "failure_reason", "ended_at", "storage_key", "format", "sample_rate", "duration_s",
    "size_bytes", "sha256", "converted_at", "deleted_at", "transcription_state",
    "transcription_error", "transcription_attempts", "transcription_lease_until", "created_at",
    "call_started_at", "customer_id", "linked_at",
)  # fmt: skip
_COLUMNS = ", ".join(_NAMES)
# The same, qualified, for queries that join other tables.
_R_COLUMNS = ", ".join(f"r.{name}" for name in _NAMES)


@dataclass(frozen=True)
class Recording:
    id: int
    call_id: str | None
    department_id: int | None
    customer_leg: str
    agent_leg: str
    legs_removed_at: datetime | None
    state: str
    failure_reason: str | None
    ended_at: datetime | None
    storage_key: str | None
    format: str | None
    sample_rate: int | None
    duration_s: float | None
    size_bytes: int | None
    sha256: str | None
    converted_at: datetime | None
    deleted_at: datetime | None
    transcription_state: str | None
    transcription_error: str | None
    transcription_attempts: int
    transcription_lease_until: datetime | None
    created_at: datetime
    # The journal row of the call is the one with (call_id, call_started_at).
    call_started_at: datetime | None
    customer_id: int | None
    linked_at: datetime | None


@dataclass(frozen=True)
class Converted:
    """What conversion learned about a recording's stereo file."""

    storage_key: str
    format: str
    sample_rate: int
    duration_s: float
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class SearchHit:
    recording_id: int
    call_id: str | None
    offset_s: float  # where in the recording the phrase was said
    snippet: str
    speaker: str
    call_started_at: datetime | None = None
    # The call journal's row, when the call is in the journal.
    call_row_id: int | None = None


@dataclass(frozen=True)
class CallView:
    """A recording with what access to it depends on: its call in the journal."""

    recording: Recording
    call_row_id: int | None
    # The endpoints that took part in the call (the journal's rule for operators);
    # None while (or if ever) the call has no journal row.
    call_endpoints: tuple[str, ...] | None


@dataclass(frozen=True)
class Transcript:
    model: str
    word_count: int
    segments: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class Linked:
    """A stored recording just linked to its journal row."""

    recording_id: int
    call_row_id: int
    call_id: str
    call_started_at: datetime
    customer_id: int | None
    caller_number: str | None
    duration_s: float


@dataclass(frozen=True)
class Announced:
    """A transcript just claimed for its TranscriptReady."""

    recording_id: int
    call_id: str | None
    word_count: int


def _recording(row: asyncpg.Record | None) -> Recording | None:
    return None if row is None else Recording(**dict(row))


def _recordings(rows: Sequence[asyncpg.Record]) -> list[Recording]:
    return [Recording(**dict(r)) for r in rows]


async def get(conn: asyncpg.Connection, recording_id: int) -> Recording | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM recordings WHERE id = $1", recording_id)
    return _recording(row)


async def insert_raw(
    conn: asyncpg.Connection,
    call_id: str | None,
    department_id: int | None,
    customer_leg: str,
    agent_leg: str,
    created_at: datetime,
    call_started_at: datetime | None = None,
    customer_id: int | None = None,
) -> Recording:
    row = await conn.fetchrow(
        f"""INSERT INTO recordings (call_id, department_id, customer_leg, agent_leg, created_at,
                call_started_at, customer_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
        call_id,
        department_id,
        customer_leg,
        agent_leg,
        created_at,
        call_started_at,
        customer_id,
    )
    return Recording(**dict(row))


async def adopt_live(
    conn: asyncpg.Connection, recording_id: int, call_id: str, call_started_at: datetime
) -> Recording | None:
    """A recording still being written for this call, now known by this call start
    (a restarted server's tracker dates the call from when it found it)."""
    row = await conn.fetchrow(
        f"""UPDATE recordings SET call_started_at = $3
            WHERE id = $1 AND call_id = $2 AND state = 'raw' AND ended_at IS NULL
            RETURNING {_COLUMNS}""",
        recording_id,
        call_id,
        call_started_at,
    )
    return _recording(row)


async def agent_endpoints(conn: asyncpg.Connection, endpoints: Sequence[str]) -> set[str]:
    """Those of ``endpoints`` that are agents' phones."""
    rows = await conn.fetch(
        "SELECT sip_endpoint FROM agents WHERE sip_endpoint = ANY($1::text[])", list(endpoints)
    )
    return {r["sip_endpoint"] for r in rows}


async def delete_raw(conn: asyncpg.Connection, recording_id: int) -> Recording | None:
    """Remove a recording still being written (its legs are the caller's to remove)."""
    row = await conn.fetchrow(
        f"DELETE FROM recordings WHERE id = $1 AND state = 'raw' RETURNING {_COLUMNS}",
        recording_id,
    )
    return _recording(row)


async def set_ended(conn: asyncpg.Connection, recording_id: int, ended_at: datetime) -> None:
    await conn.execute(
        "UPDATE recordings SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
        recording_id,
        ended_at,
    )


async def list_raw(conn: asyncpg.Connection) -> list[Recording]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM recordings WHERE state = 'raw' ORDER BY id")
    return _recordings(rows)


async def lock_raw(conn: asyncpg.Connection, recording_id: int) -> Recording | None:
    """The recording if it is finished and waiting for conversion, and nobody else holds it."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM recordings
            WHERE id = $1 AND state = 'raw' AND ended_at IS NOT NULL
            FOR UPDATE SKIP LOCKED""",
        recording_id,
    )
    return _recording(row)


async def mark_converted(
    conn: asyncpg.Connection,
    recording_id: int,
    converted: Converted,
    now: datetime,
    queue_transcription: bool,
) -> None:
    await conn.execute(
        """UPDATE recordings SET state = 'converted', failure_reason = NULL,
               storage_key = $2, format = $3, sample_rate = $4, duration_s = $5,
               size_bytes = $6, sha256 = $7, converted_at = $8,
               transcription_state = CASE WHEN $9 THEN 'pending' END
           WHERE id = $1""",
        recording_id,
        converted.storage_key,
        converted.format,
        converted.sample_rate,
        converted.duration_s,
        converted.size_bytes,
        converted.sha256,
        now,
        queue_transcription,
    )


async def mark_failed(conn: asyncpg.Connection, recording_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE recordings SET state = 'failed', failure_reason = $2 WHERE id = $1",
        recording_id,
        reason,
    )


async def mark_legs_removed(conn: asyncpg.Connection, recording_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE recordings SET legs_removed_at = $2 WHERE id = $1 AND legs_removed_at IS NULL",
        recording_id,
        now,
    )


async def list_lingering_legs(conn: asyncpg.Connection) -> list[Recording]:
    """Stored recordings whose raw legs were not removed (a crash came between)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM recordings
            WHERE state = 'converted' AND legs_removed_at IS NULL ORDER BY id"""
    )
    return _recordings(rows)


async def fail_abandoned_transcriptions(
    conn: asyncpg.Connection, now: datetime, max_attempts: int
) -> list[int]:
    """Running transcriptions past their lease that have used up their attempts."""
    rows = await conn.fetch(
        """UPDATE recordings SET transcription_state = 'failed', transcription_lease_until = NULL,
               transcription_error = 'the worker stopped ' || transcription_attempts
                   || ' times while transcribing'
           WHERE transcription_state = 'running' AND transcription_lease_until < $1
             AND transcription_attempts >= $2
           RETURNING id""",
        now,
        max_attempts,
    )
    return [r["id"] for r in rows]


async def claim_transcriptions(
    conn: asyncpg.Connection,
    now: datetime,
    limit: int,
    lease_base_s: float,
    lease_per_audio_s: float,
) -> list[Recording]:
    """Take up to ``limit`` queued transcriptions (and any whose worker's lease ran out).

    Two workers never take the same one (SKIP LOCKED); the lease grows with the
    recording's length, so only a worker that is gone loses its claim. SKIP LOCKED
    also passes over a queued row that any other transaction holds for a moment (an
    UPDATE of its legs or its link): fewer than ``limit`` does not mean the queue is
    empty (``count_transcription_backlog`` says that).
    """
    rows = await conn.fetch(
        f"""UPDATE recordings SET transcription_state = 'running',
               transcription_attempts = transcription_attempts + 1,
               transcription_lease_until = $1::timestamptz + make_interval(
                   secs => $3 + $4 * coalesce(duration_s, 0))
            WHERE id IN (
                SELECT id FROM recordings
                WHERE state = 'converted'
                  AND (transcription_state = 'pending'
                       OR (transcription_state = 'running' AND transcription_lease_until < $1))
                ORDER BY id LIMIT $2
                FOR UPDATE SKIP LOCKED)
            RETURNING {_COLUMNS}""",
        now,
        limit,
        lease_base_s,
        lease_per_audio_s,
    )
    return sorted(_recordings(rows), key=lambda r: r.id)


async def count_transcription_backlog(conn: asyncpg.Connection, now: datetime) -> int:
    return await conn.fetchval(
        """SELECT count(*) FROM recordings
           WHERE state = 'converted'
             AND (transcription_state = 'pending'
                  OR (transcription_state = 'running' AND transcription_lease_until < $1))""",
        now,
    )


async def release_transcriptions(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Give claims back untouched (the run was interrupted): the attempt does not count."""
    await conn.execute(
        """UPDATE recordings SET transcription_state = 'pending', transcription_lease_until = NULL,
               transcription_attempts = greatest(transcription_attempts - 1, 0)
           WHERE id = ANY($1::bigint[]) AND transcription_state = 'running'""",
        list(ids),
    )


async def requeue_transcription(conn: asyncpg.Connection, recording_id: int) -> None:
    """Back in the queue after a worker crash; the attempt counts."""
    await conn.execute(
        """UPDATE recordings SET transcription_state = 'pending', transcription_lease_until = NULL
           WHERE id = $1 AND transcription_state = 'running'""",
        recording_id,
    )


async def fail_transcription(conn: asyncpg.Connection, recording_id: int, reason: str) -> None:
    await conn.execute(
        """UPDATE recordings SET transcription_state = 'failed', transcription_error = $2,
               transcription_lease_until = NULL
           WHERE id = $1""",
        recording_id,
        reason,
    )


async def save_transcript(
    conn: asyncpg.Connection,
    recording_id: int,
    model: str,
    segments: list[dict[str, Any]],
    text: str,
    word_count: int,
) -> None:
    # A redone transcript is news again: unclaimed until announced.
    await conn.execute(
        """INSERT INTO transcripts (recording_id, model, segments, word_count, text)
           VALUES ($1, $2, $3::jsonb, $4, $5)
           ON CONFLICT (recording_id) DO UPDATE SET model = excluded.model,
               segments = excluded.segments, word_count = excluded.word_count,
               text = excluded.text, created_at = now(), announced_at = NULL""",
        recording_id,
        model,
        json.dumps(segments, ensure_ascii=False),
        word_count,
        text,
    )
    await conn.execute(
        """UPDATE recordings SET transcription_state = 'done', transcription_error = NULL,
               transcription_lease_until = NULL
           WHERE id = $1""",
        recording_id,
    )


async def claim_announcements(
    conn: asyncpg.Connection, now: datetime, recording_id: int | None = None
) -> list[Announced]:
    """Claim the transcripts not announced yet (or that one only): each is claimed once,
    however many processes try at the same time."""
    rows = await conn.fetch(
        """UPDATE transcripts t SET announced_at = $1
           FROM recordings r
           WHERE r.id = t.recording_id AND t.announced_at IS NULL
             AND ($2::bigint IS NULL OR t.recording_id = $2)
           RETURNING t.recording_id, r.call_id, t.word_count""",
        now,
        recording_id,
    )
    return sorted(
        (Announced(r["recording_id"], r["call_id"], r["word_count"]) for r in rows),
        key=lambda a: a.recording_id,
    )


async def get_transcript(conn: asyncpg.Connection, recording_id: int) -> Transcript | None:
    row = await conn.fetchrow(
        "SELECT model, word_count, segments, created_at FROM transcripts WHERE recording_id = $1",
        recording_id,
    )
    if row is None:
        return None
    return Transcript(
        row["model"], row["word_count"], json.loads(row["segments"]), row["created_at"]
    )


# The recording's call in the journal: the precise reference, as the journal is unique
# on (call_id, started_at) only.
_CALL_OF_RECORDING = "c.call_id = r.call_id AND c.started_at = r.call_started_at"


async def get_with_call(conn: asyncpg.Connection, recording_id: int) -> CallView | None:
    row = await conn.fetchrow(
        f"""SELECT {_R_COLUMNS}, c.id AS call_row_id, c.endpoints AS call_endpoints
            FROM recordings r LEFT JOIN calls c ON {_CALL_OF_RECORDING}
            WHERE r.id = $1""",
        recording_id,
    )
    if row is None:
        return None
    data = dict(row)
    call_row_id = data.pop("call_row_id")
    endpoints = data.pop("call_endpoints")
    return CallView(Recording(**data), call_row_id, None if endpoints is None else tuple(endpoints))


async def recordings_of_call(
    conn: asyncpg.Connection, call_id: str, call_started_at: datetime
) -> list[int]:
    """Every recording of one call (one per agent of a transferred call), oldest first."""
    rows = await conn.fetch(
        """SELECT id FROM recordings
           WHERE call_id = $1 AND call_started_at = $2 AND state <> 'deleted' ORDER BY id""",
        call_id,
        call_started_at,
    )
    return [r["id"] for r in rows]


async def link_pending(conn: asyncpg.Connection, now: datetime) -> list[Linked]:
    """Link every stored recording whose journal row exists now, and claim each link.

    A recording is linked once (``linked_at``): concurrent runs in several processes
    wait on the row lock and then find it taken, so each link is reported once. A
    call transferred between agents has one recording per agent; every one is linked,
    and the journal's ``recording_id`` names the call's first.
    """
    rows = await conn.fetch(
        f"""WITH claimed AS (
                UPDATE recordings r SET linked_at = $1
                FROM calls c
                WHERE r.state = 'converted' AND r.linked_at IS NULL
                  AND r.call_started_at IS NOT NULL AND {_CALL_OF_RECORDING}
                RETURNING r.id, c.id AS call_row_id, r.call_id, r.call_started_at,
                    r.customer_id, c.caller_number, r.duration_s
            ), linked AS (
                UPDATE calls c SET recording_id = least(c.recording_id, first.id)
                FROM (SELECT call_row_id, min(id) AS id FROM claimed GROUP BY call_row_id) first
                WHERE c.id = first.call_row_id
            )
            SELECT * FROM claimed ORDER BY id""",
        now,
    )
    return [
        Linked(
            recording_id=r["id"],
            call_row_id=r["call_row_id"],
            call_id=r["call_id"],
            call_started_at=r["call_started_at"],
            customer_id=r["customer_id"],
            caller_number=r["caller_number"],
            duration_s=r["duration_s"],
        )
        for r in rows
    ]


async def search_transcripts(
    conn: asyncpg.Connection,
    phrase: str,
    limit: int = 50,
    visible_to_endpoint: str | None = None,
) -> list[SearchHit]:
    """Recordings where the phrase was said, one hit per utterance that says it.

    The GIN index on the whole transcript finds the recordings; the utterances of
    those few are then checked one by one, which also drops a "phrase" that only
    spans two utterances (or two speakers). Newest recordings first.

    ``visible_to_endpoint``: only recordings of calls that endpoint took part in (the
    journal's rule for an operator); None: all.
    """
    rows = await conn.fetch(
        f"""WITH q AS (SELECT phraseto_tsquery('simple', $1) AS query)
            SELECT r.id, r.call_id, r.call_started_at, c.id AS call_row_id, seg,
                ts_headline('simple', seg->>'text', q.query,
                    'StartSel=[, StopSel=], MaxFragments=1, MaxWords=20, MinWords=5') AS snippet
            FROM q
            JOIN transcripts t ON t.tsv @@ q.query
            JOIN recordings r ON r.id = t.recording_id AND r.state = 'converted'
            LEFT JOIN calls c ON {_CALL_OF_RECORDING}
            CROSS JOIN LATERAL jsonb_array_elements(t.segments) WITH ORDINALITY AS s(seg, n)
            WHERE numnode(q.query) > 0
              AND to_tsvector('simple', seg->>'text') @@ q.query
              AND ($3::text IS NULL OR c.endpoints @> ARRAY[$3::text])
            ORDER BY r.created_at DESC, r.id DESC, s.n
            LIMIT $2""",
        phrase,
        limit,
        visible_to_endpoint,
    )
    hits = []
    for row in rows:
        segment = json.loads(row["seg"])
        (utterance,) = dialogue_from_json([segment])
        word = locate_phrase(utterance.words, phrase)
        hits.append(
            SearchHit(
                recording_id=row["id"],
                call_id=row["call_id"],
                offset_s=word.start if word is not None else utterance.start,
                snippet=row["snippet"],
                speaker=utterance.speaker,
                call_started_at=row["call_started_at"],
                call_row_id=row["call_row_id"],
            )
        )
    return hits


async def lock_due_for_retention(
    conn: asyncpg.Connection,
    now: datetime,
    default_days: int | None,
    department_days: Mapping[int, int],
    limit: int,
) -> list[Recording]:
    """Stored or failed recordings older than their department's limit, locked."""
    rows = await conn.fetch(
        f"""SELECT {_R_COLUMNS} FROM recordings r
            LEFT JOIN unnest($2::bigint[], $3::integer[]) AS d(department_id, days)
                ON d.department_id = r.department_id
            WHERE r.state IN ('converted', 'failed')
              AND coalesce(d.days, $4::integer) IS NOT NULL
              AND r.created_at
                  < $1::timestamptz - make_interval(days => coalesce(d.days, $4::integer))
            ORDER BY r.id LIMIT $5
            FOR UPDATE OF r SKIP LOCKED""",
        now,
        list(department_days.keys()),
        list(department_days.values()),
        default_days,
        limit,
    )
    return _recordings(rows)


async def mark_deleted(conn: asyncpg.Connection, recording_id: int, now: datetime) -> None:
    # The transcript is the recording's content in words: it goes too.
    await conn.execute("DELETE FROM transcripts WHERE recording_id = $1", recording_id)
    await conn.execute(
        """UPDATE recordings SET state = 'deleted', deleted_at = $2, legs_removed_at = $2,
               transcription_state = NULL, transcription_lease_until = NULL
           WHERE id = $1""",
        recording_id,
        now,
    )
