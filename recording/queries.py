"""Reading recordings for people: details with the transcript, the audio, and transcript
search, each limited to the calls the reader may see (:mod:`recording.access`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from . import repository
from .access import Scope
from .repository import CallView, Recording, SearchHit, Transcript
from .storage import NotStored, RecordingStore

__all__ = [
    "Audio",
    "NoAudio",
    "NotVisible",
    "RecordingDetails",
    "RecordingNotFound",
    "RecordingQueries",
]

log = logging.getLogger("recording.queries")


class RecordingNotFound(LookupError):
    pass


class NotVisible(PermissionError):
    """The recording of a call the reader may not see."""


class NoAudio(LookupError):
    """The recording has no stored file (not converted yet, failed, or deleted)."""


@dataclass(frozen=True)
class RecordingDetails:
    recording: Recording
    call_row_id: int | None
    transcript: Transcript | None
    # The call's recordings, this one among them: a call transferred between agents
    # has one per agent.
    call_recording_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Audio:
    recording_id: int
    key: str
    format: str
    size: int
    sha256: str | None


class RecordingQueries:
    def __init__(self, pool: asyncpg.Pool, store: RecordingStore) -> None:
        self._pool = pool
        self._store = store

    async def _visible(self, conn: asyncpg.Connection, recording_id: int, scope: Scope) -> CallView:
        view = await repository.get_with_call(conn, recording_id)
        if view is None:
            raise RecordingNotFound(recording_id)
        if not scope.sees_call(view.call_endpoints):
            raise NotVisible(recording_id)
        return view

    async def details(self, recording_id: int, scope: Scope) -> RecordingDetails:
        async with self._pool.acquire() as conn:
            view = await self._visible(conn, recording_id, scope)
            transcript = await repository.get_transcript(conn, recording_id)
            rec = view.recording
            siblings = (
                await repository.recordings_of_call(conn, rec.call_id, rec.call_started_at)
                if rec.call_id is not None and rec.call_started_at is not None
                else [rec.id]
            )
        return RecordingDetails(rec, view.call_row_id, transcript, tuple(siblings))

    async def audio(self, recording_id: int, scope: Scope) -> Audio:
        async with self._pool.acquire() as conn:
            rec = (await self._visible(conn, recording_id, scope)).recording
        if rec.state != "converted" or rec.storage_key is None or rec.format is None:
            raise NoAudio(f"recording {recording_id} has no audio ({rec.state})")
        try:
            size = await self._store.size(rec.storage_key)
        except NotStored:
            log.error("stored recording file is missing", extra={"recording_id": rec.id})
            raise NoAudio(f"the audio of recording {recording_id} is missing") from None
        return Audio(rec.id, rec.storage_key, rec.format, size, rec.sha256)

    def read(self, audio: Audio, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self._store.read_range(audio.key, start, end)

    async def search(self, phrase: str, scope: Scope, limit: int = 50) -> list[SearchHit]:
        if scope.nothing:
            return []
        async with self._pool.acquire() as conn:
            return await repository.search_transcripts(
                conn, phrase, limit, None if scope.everything else scope.endpoint
            )
