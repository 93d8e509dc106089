"""Recordings from raw legs to stored stereo files, their transcription queue, search,
and retention. The services own the transactions; SQL is in ``repository``."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import monotonic
from typing import Literal

import asyncpg

from pbx.audio import AudioError, file_facts, merge_legs

from . import repository
from .announcing import ready_events
from .config import RecordingConfig
from .dialogue import dialogue_text, dialogue_to_json
from .events import RecordingFailed, RecordingStored
from .naming import leg_paths, storage_key
from .recovery import abandoned_end
from .repository import Converted, Recording
from .storage import NotStored, RecordingStore
from .transcription import Transcriber, WorkerCrashed

__all__ = [
    "TRANSCRIPTION_CHANNEL",
    "Progress",
    "RecordingService",
    "RecoveryReport",
    "TranscriptionRun",
    "TranscriptionService",
]

log = logging.getLogger("recording")

# NOTIFY channel: a wake-up for transcription workers; the table is the truth.
TRANSCRIPTION_CHANNEL = "recording_transcription"
# A claimed transcription's lease: a base plus twice the audio (both legs run side
# by side at a real-time factor well under 1) — generous, as only a dead worker
# should ever see its lease run out.
_LEASE_BASE_S = 600.0
_LEASE_PER_AUDIO_S = 2.0
_RETENTION_BATCH = 200
# A queued recording that a claim passed over because some transaction held its row
# is looked for again this soon, then less and less often (see run_pending).
_HELD_RETRY_S = 0.05
_HELD_RETRY_MAX_S = 1.0

Clock = Callable[[], datetime]
Publish = Callable[[object], None]
Outcome = Literal["converted", "failed", "skipped"]
TranscriptionOutcome = Literal["done", "failed", "requeued"]


@dataclass(frozen=True)
class RecoveryReport:
    converted: tuple[int, ...]
    failed: tuple[int, ...]
    legs_removed: tuple[int, ...]


class RecordingService:
    """The life of a recording outside the call: legs → stereo file → store → queue."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: RecordingStore,
        config: RecordingConfig,
        spool_dir: Path,
        clock: Clock,
        publish: Publish,
    ) -> None:
        self._pool = pool
        self._store = store
        self._config = config
        self._spool = Path(spool_dir)
        self._now = clock
        self._publish = publish

    async def begin(
        self,
        call_id: str | None,
        department_id: int | None = None,
        *,
        call_started_at: datetime | None = None,
        customer_id: int | None = None,
    ) -> Recording:
        """Register a recording about to start; its legs are the files MixMonitor must
        write (``r()`` and ``t()``, whichever of them carries the customer's voice).

        ``call_started_at`` is the call's start as the tracker reported it: with the
        call id, it names the call's journal row.
        """
        customer, agent = leg_paths(self._spool, call_id, uuid.uuid4().hex[:12])
        async with self._pool.acquire() as conn:
            return await repository.insert_raw(
                conn,
                call_id,
                department_id,
                str(customer),
                str(agent),
                self._now(),
                call_started_at,
                customer_id,
            )

    async def adopt(
        self, recording_id: int, call_id: str, call_started_at: datetime
    ) -> Recording | None:
        """Take over a recording another server process started for a call still in
        progress; None if it is not being written any more."""
        async with self._pool.acquire() as conn:
            return await repository.adopt_live(conn, recording_id, call_id, call_started_at)

    async def abort(self, rec: Recording, reason: str) -> None:
        """The recording never started (Asterisk refused it): failed, with the reason."""
        async with self._pool.acquire() as conn:
            await repository.mark_failed(conn, rec.id, reason)
        log.warning(
            "recording failed: %s", reason, extra={"recording_id": rec.id, "call_id": rec.call_id}
        )
        self._publish(RecordingFailed(rec.id, rec.call_id, reason))

    async def discard(self, recording_id: int) -> None:
        """A recording that was no conversation after all: row and legs removed."""
        async with self._pool.acquire() as conn:
            rec = await repository.delete_raw(conn, recording_id)
        if rec is None:
            return
        for leg in (rec.customer_leg, rec.agent_leg):
            await asyncio.to_thread(Path(leg).unlink, missing_ok=True)

    async def finish(self, recording_id: int, ended_at: datetime) -> Outcome:
        """The call is over: convert its legs now."""
        async with self._pool.acquire() as conn:
            await repository.set_ended(conn, recording_id, ended_at)
        return await self.process_raw(recording_id)

    async def process_raw(self, recording_id: int) -> Outcome:
        """Merge, convert, checksum and store one finished recording; queue transcription.

        The stereo file is stored before the row says so, and the legs are removed
        only after: a crash anywhere leaves either the legs or the stored file, and
        running this again finishes the job. Held rows are skipped (another process
        is converting them).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            rec = await repository.lock_raw(conn, recording_id)
            if rec is None:
                return "skipped"
            try:
                converted = await self._convert_and_store(rec)
            except AudioError as exc:
                await repository.mark_failed(conn, rec.id, str(exc))
                failure = RecordingFailed(rec.id, rec.call_id, str(exc))
            else:
                failure = None
                now = self._now()
                queue = self._config.transcribe
                await repository.mark_converted(conn, rec.id, converted, now, queue)
                if queue:
                    await conn.execute(
                        "SELECT pg_notify($1, $2)", TRANSCRIPTION_CHANNEL, str(rec.id)
                    )
        if failure is not None:
            log.warning(
                "recording failed: %s",
                failure.reason,
                extra={"recording_id": rec.id, "call_id": rec.call_id},
            )
            self._publish(failure)
            return "failed"
        log.info(
            "recording stored key=%s duration_s=%.1f size=%d",
            converted.storage_key,
            converted.duration_s,
            converted.size_bytes,
            extra={"recording_id": rec.id, "call_id": rec.call_id},
        )
        self._publish(
            RecordingStored(
                rec.id,
                rec.call_id,
                rec.department_id,
                converted.storage_key,
                converted.format,
                converted.duration_s,
                converted.size_bytes,
                converted.sha256,
                now,
            )
        )
        await self._remove_legs(rec)
        return "converted"

    async def _convert_and_store(self, rec: Recording) -> Converted:
        fmt = self._config.format
        key = storage_key(rec.id, rec.created_at, fmt)
        with tempfile.TemporaryDirectory(prefix="recording-") as tmp:
            out = Path(tmp) / f"{rec.id}.{fmt}"
            customer, agent = Path(rec.customer_leg), Path(rec.agent_leg)
            # Customer left, agent right: transcription reads the sides back by channel.
            merged = await asyncio.to_thread(
                merge_legs, customer, agent, out, fmt, self._config.bitrate_kbps
            )
            facts = await asyncio.to_thread(file_facts, out)
            await self._store.put(key, out)
        return Converted(key, fmt, merged.source_rate, merged.duration_s, facts.size, facts.sha256)

    async def _remove_legs(self, rec: Recording) -> None:
        for leg in (rec.customer_leg, rec.agent_leg):
            await asyncio.to_thread(Path(leg).unlink, missing_ok=True)
        async with self._pool.acquire() as conn:
            await repository.mark_legs_removed(conn, rec.id, self._now())

    async def recover(self) -> RecoveryReport:
        """Finish what a crash interrupted: convert raw legs whose call is over (seen
        ended, or abandoned — see :func:`abandoned_end`), remove legs left beside
        stored files. Run at start-up; safe to run any time, from any process."""
        converted: list[int] = []
        failed: list[int] = []
        async with self._pool.acquire() as conn:
            raw = await repository.list_raw(conn)
        for rec in raw:
            if rec.ended_at is None:
                mtimes = await asyncio.to_thread(_mtimes, rec)
                ended = abandoned_end(
                    mtimes, rec.created_at, self._now(), self._config.abandoned_after_s
                )
                if ended is None:
                    continue
                async with self._pool.acquire() as conn:
                    await repository.set_ended(conn, rec.id, ended)
            outcome = await self.process_raw(rec.id)
            if outcome == "converted":
                converted.append(rec.id)
            elif outcome == "failed":
                failed.append(rec.id)
        async with self._pool.acquire() as conn:
            lingering = await repository.list_lingering_legs(conn)
        for rec in lingering:
            await self._remove_legs(rec)
        report = RecoveryReport(tuple(converted), tuple(failed), tuple(r.id for r in lingering))
        if converted or failed or lingering:
            log.info(
                "recording recovery converted=%s failed=%s legs_removed=%s",
                list(report.converted),
                list(report.failed),
                list(report.legs_removed),
            )
        return report

    async def apply_retention(self, now: datetime) -> list[int]:
        """Delete recordings older than their department's limit; returns their ids.

        Files go first, the row is marked after: a crash in between leaves a row
        that the next run deletes again (deleting what is gone is a no-op), never a
        file that no row points to.
        """
        config = self._config
        if config.retention_days is None and not config.department_retention_days:
            return []
        removed: list[int] = []
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                due = await repository.lock_due_for_retention(
                    conn,
                    now,
                    config.retention_days,
                    config.department_retention_days,
                    _RETENTION_BATCH,
                )
                for rec in due:
                    if rec.storage_key is not None:
                        await self._store.delete(rec.storage_key)
                    for leg in (rec.customer_leg, rec.agent_leg):
                        await asyncio.to_thread(Path(leg).unlink, missing_ok=True)
                    await repository.mark_deleted(conn, rec.id, now)
                    log.info(
                        "recording removed by retention key=%s created_at=%s department_id=%s",
                        rec.storage_key,
                        rec.created_at.isoformat(),
                        rec.department_id,
                        extra={"recording_id": rec.id, "call_id": rec.call_id},
                    )
                    removed.append(rec.id)
            if len(due) < _RETENTION_BATCH:
                return removed


def _mtimes(rec: Recording) -> list[float | None]:
    out: list[float | None] = []
    for leg in (rec.customer_leg, rec.agent_leg):
        try:
            out.append(Path(leg).stat().st_mtime)
        except FileNotFoundError:
            out.append(None)
    return out


@dataclass(frozen=True)
class Progress:
    done: int
    failed: int
    total: int
    elapsed_s: float


@dataclass(frozen=True)
class TranscriptionRun:
    done: tuple[int, ...]
    failed: tuple[int, ...]


class TranscriptionService:
    """The transcription queue: claim, transcribe in the worker pool, store or fail."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: RecordingStore,
        transcriber: Transcriber,
        config: RecordingConfig,
        clock: Clock,
        publish: Publish,
        *,
        announce: bool = True,
    ) -> None:
        """``announce``: publish TranscriptReady for what this service transcribes. Off
        where nothing listens (the CLI): the transcripts stay unclaimed, and a server
        process claims and publishes them (:mod:`recording.announcing`)."""
        self._pool = pool
        self._store = store
        self._transcriber = transcriber
        self._config = config
        self._now = clock
        self._publish = publish
        self._announce = announce

    async def backlog(self) -> int:
        async with self._pool.acquire() as conn:
            return await repository.count_transcription_backlog(conn, self._now())

    async def run_pending(
        self,
        *,
        limit: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> TranscriptionRun:
        """Transcribe queued recordings until the queue is empty (or ``limit`` are done).

        As many recordings are in flight as there are workers. Each one is committed
        as it finishes, so an interrupted run loses nothing: its claims are given back
        and the next run carries on from there.

        The queue is empty when the table says so, not when a claim comes back short.
        The claim skips every row some transaction holds (SKIP LOCKED), not only those
        another worker is taking: the process that queued a recording updates its row
        again right after the commit whose NOTIFY woke this run (legs removed; the
        linker links it). That NOTIFY comes once; were the skipped recording taken for
        someone else's, it would wait for the next poll. So a short claim is followed
        by a look at the backlog, and what is still queued is claimed again shortly.
        """
        began = monotonic()
        total = await self.backlog()
        done: list[int] = []
        failed: list[int] = []
        in_flight: dict[asyncio.Task[TranscriptionOutcome], int] = {}
        exhausted = False
        retry_s = _HELD_RETRY_S
        try:
            while True:
                room = self._transcriber.workers - len(in_flight)
                if limit is not None:
                    room = min(room, limit - len(done) - len(failed) - len(in_flight))
                held_retry_s: float | None = None
                if room > 0 and not exhausted:
                    claimed = await self._claim(room)
                    for rec in claimed:
                        in_flight[asyncio.create_task(self.transcribe_one(rec))] = rec.id
                    if claimed:
                        retry_s = _HELD_RETRY_S
                    if len(claimed) < room:
                        # Queued but not claimed: held by a transaction (or queued
                        # since the claim). Claimed by another worker, it is not queued.
                        if await self.backlog() == 0:
                            exhausted = True
                        else:
                            held_retry_s = retry_s
                            retry_s = min(retry_s * 2, _HELD_RETRY_MAX_S)
                if not in_flight:
                    if held_retry_s is None:
                        break
                    await asyncio.sleep(held_retry_s)
                    continue
                finished, _ = await asyncio.wait(
                    in_flight, timeout=held_retry_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not finished:
                    continue  # time to claim what was held
                for task in finished:
                    recording_id = in_flight.pop(task)
                    outcome = task.result()
                    if outcome == "done":
                        done.append(recording_id)
                    elif outcome == "failed":
                        failed.append(recording_id)
                    else:
                        exhausted = False  # it is back in the queue: take it again
                total = max(total, len(done) + len(failed) + len(in_flight))
                if on_progress is not None:
                    on_progress(Progress(len(done), len(failed), total, monotonic() - began))
        finally:
            if in_flight:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
                async with self._pool.acquire() as conn:
                    await repository.release_transcriptions(conn, list(in_flight.values()))
        return TranscriptionRun(tuple(done), tuple(failed))

    async def _claim(self, limit: int) -> list[Recording]:
        now = self._now()
        async with self._pool.acquire() as conn, conn.transaction():
            for recording_id in await repository.fail_abandoned_transcriptions(
                conn, now, self._config.transcription_max_attempts
            ):
                log.warning(
                    "transcription failed: its worker kept dying",
                    extra={"recording_id": recording_id},
                )
            return await repository.claim_transcriptions(
                conn, now, limit, _LEASE_BASE_S, _LEASE_PER_AUDIO_S
            )

    async def transcribe_one(self, rec: Recording) -> TranscriptionOutcome:
        """Transcribe one claimed recording and store the transcript.

        Bad audio fails this recording with the reason, and only this one. A worker
        crash puts it back in the queue until it has had its attempts.
        """
        extra = {"recording_id": rec.id, "call_id": rec.call_id}
        try:
            if rec.storage_key is None or rec.sample_rate is None:
                raise NotStored(f"recording {rec.id} has no stored file")
            async with self._store.local_path(rec.storage_key) as path:
                dialogue = await self._transcriber.transcribe_stereo(path, rec.sample_rate)
        except (AudioError, NotStored) as exc:
            reason = f"stored file missing: {exc}" if isinstance(exc, NotStored) else str(exc)
            async with self._pool.acquire() as conn:
                await repository.fail_transcription(conn, rec.id, reason)
            log.warning("transcription failed: %s", reason, extra=extra)
            return "failed"
        except WorkerCrashed as exc:
            async with self._pool.acquire() as conn:
                if rec.transcription_attempts >= self._config.transcription_max_attempts:
                    await repository.fail_transcription(conn, rec.id, str(exc))
                    log.warning("transcription failed: %s", exc, extra=extra)
                    return "failed"
                await repository.requeue_transcription(conn, rec.id)
            log.warning("transcription worker died, requeued: %s", exc, extra=extra)
            return "requeued"
        words = sum(len(u.words) for u in dialogue)
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.save_transcript(
                conn,
                rec.id,
                self._transcriber.model_name,
                dialogue_to_json(dialogue),
                dialogue_text(dialogue),
                words,
            )
            # Claimed in the same commit: the other processes the NOTIFY wakes find
            # it taken, so it is announced once.
            claimed = (
                await repository.claim_announcements(conn, self._now(), rec.id)
                if self._announce
                else []
            )
        log.info("transcript stored words=%d", words, extra=extra)
        for event in ready_events(claimed):
            self._publish(event)
        return "done"
