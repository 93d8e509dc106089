"""The background work of recording in a server process: crash recovery, the
transcription queue (woken by NOTIFY, polled as a fallback), retention on schedule.

Every job is safe to run in several server processes at once (the row locks in
``repository`` see to that), so each process simply runs all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from .config import RecordingConfig
from .services import TRANSCRIPTION_CHANNEL, RecordingService, TranscriptionService

log = logging.getLogger("recording.jobs")


class RecordingJobs:
    def __init__(
        self,
        dsn: str,
        recordings: RecordingService,
        transcription: TranscriptionService | None,
        config: RecordingConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._dsn = dsn
        self._recordings = recordings
        self._transcription = transcription
        self._config = config
        self._now = clock
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._transcription is not None:
            # LISTEN needs a connection of its own: the pool UNLISTENs on release.
            self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(TRANSCRIPTION_CHANNEL, self._on_notify)
            self._tasks.append(asyncio.create_task(self._transcribe(), name="recording-transcribe"))
        self._tasks += [
            asyncio.create_task(
                self._every(self._config.abandoned_after_s, self._recover), name="recording-recover"
            ),
            asyncio.create_task(
                self._every(self._config.retention_interval_s, self._retention),
                name="recording-retention",
            ),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _transcribe(self) -> None:
        assert self._transcription is not None
        while True:
            self._wake.clear()
            try:
                await self._transcription.run_pending()
            except Exception:
                # The loop outlives any one failure (database restart, a bug on one
                # recording); the queue in the table is still there for the next run.
                log.exception("transcription queue run failed; retrying on the next wake-up")
            # A notification is only a wake-up; the poll catches any that was missed.
            try:
                await asyncio.wait_for(self._wake.wait(), self._config.transcription_poll_s)
            except TimeoutError:
                pass

    async def _recover(self) -> None:
        await self._recordings.recover()

    async def _retention(self) -> None:
        await self._recordings.apply_retention(self._now())

    @staticmethod
    async def _every(interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run now, then every ``interval_s``; a failed run is logged, not fatal."""
        while True:
            try:
                await job()
            except Exception:
                log.exception("recording job %s failed", getattr(job, "__name__", job))
            await asyncio.sleep(interval_s)
