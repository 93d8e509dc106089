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
) -> Recording:
    row = await conn.fetchrow(
        f"""INSERT INTO recordings (call_id, department_id, customer_leg, agent_leg, created_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
        call_id,
        department_id,
        customer_leg,
        agent_leg,
        created_at,
    )
    return Recording(**dict(row))


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
    recording's length, so only a worker that is gone loses its claim.
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
    await conn.execute(
        """INSERT INTO transcripts (recording_id, model, segments, word_count, text)
           VALUES ($1, $2, $3::jsonb, $4, $5)
           ON CONFLICT (recording_id) DO UPDATE SET model = excluded.model,
               segments = excluded.segments, word_count = excluded.word_count,
               text = excluded.text, created_at = now()""",
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


async def get_transcript_segments(
    conn: asyncpg.Connection, recording_id: int
) -> list[dict[str, Any]] | None:
    raw = await conn.fetchval(
        "SELECT segments FROM transcripts WHERE recording_id = $1", recording_id
    )
    return None if raw is None else json.loads(raw)


async def search_transcripts(
    conn: asyncpg.Connection, phrase: str, limit: int = 50
) -> list[SearchHit]:
    """Recordings where the phrase was said, one hit per utterance that says it.

    The GIN index on the whole transcript finds the recordings; the utterances of
    those few are then checked one by one, which also drops a "phrase" that only
    spans two utterances (or two speakers). Newest recordings first.
    """
    rows = await conn.fetch(
        """WITH q AS (SELECT phraseto_tsquery('simple', $1) AS query)
           SELECT r.id, r.call_id, seg, ts_headline('simple', seg->>'text', q.query,
                      'StartSel=[, StopSel=], MaxFragments=1, MaxWords=20, MinWords=5') AS snippet
           FROM q
           JOIN transcripts t ON t.tsv @@ q.query
           JOIN recordings r ON r.id = t.recording_id AND r.state = 'converted'
           CROSS JOIN LATERAL jsonb_array_elements(t.segments) WITH ORDINALITY AS s(seg, n)
           WHERE numnode(q.query) > 0
             AND to_tsvector('simple', seg->>'text') @@ q.query
           ORDER BY r.created_at DESC, r.id DESC, s.n
           LIMIT $2""",
        phrase,
        limit,
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
