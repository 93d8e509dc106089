"""The background work of recording in a server process: crash recovery, the
transcription queue, the journal links and the announcement of transcripts made
elsewhere (all three woken by NOTIFY, polled as a fallback), retention on schedule.

Every job is safe to run in several server processes at once (the row locks in
``repository`` see to that), so each process simply runs all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from .announcing import TRANSCRIPT_CHANNEL, TranscriptAnnouncer
from .config import RecordingConfig
from .linking import LINK_CHANNEL, RecordingLinker
from .services import TRANSCRIPTION_CHANNEL, RecordingService, TranscriptionService

log = logging.getLogger("recording.jobs")

# A missed journal notification (the listening connection was down) is caught this late.
_LINK_POLL_S = 60.0


class RecordingJobs:
    def __init__(
        self,
        dsn: str,
        recordings: RecordingService,
        transcription: TranscriptionService | None,
        linker: RecordingLinker,
        config: RecordingConfig,
        clock: Callable[[], datetime],
        announcer: TranscriptAnnouncer | None = None,
    ) -> None:
        self._dsn = dsn
        self._recordings = recordings
        self._transcription = transcription
        self._linker = linker
        self._announcer = announcer
        self._config = config
        self._now = clock
        self._transcription_wake = asyncio.Event()
        self._link_wake = asyncio.Event()
        self._announce_wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # LISTEN needs a connection of its own: the pool UNLISTENs on release.
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(LINK_CHANNEL, self._on_link_notify)
        self._tasks.append(
            asyncio.create_task(
                self._woken(self._link_wake, _LINK_POLL_S, self._linker.link_pending),
                name="recording-link",
            )
        )
        if self._announcer is not None:
            # Also without transcription here: the CLI may transcribe for this server.
            await self._listener.add_listener(TRANSCRIPT_CHANNEL, self._on_announce_notify)
            announce = self._woken(
                self._announce_wake, _LINK_POLL_S, self._announcer.announce_pending
            )
            self._tasks.append(asyncio.create_task(announce, name="recording-announce"))
        if self._transcription is not None:
            await self._listener.add_listener(TRANSCRIPTION_CHANNEL, self._on_notify)
            transcribe = self._woken(
                self._transcription_wake,
                self._config.transcription_poll_s,
                self._transcription.run_pending,
            )
            self._tasks.append(asyncio.create_task(transcribe, name="recording-transcribe"))
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
        self._transcription_wake.set()

    def _on_link_notify(self, *_: object) -> None:
        self._link_wake.set()

    def _on_announce_notify(self, *_: object) -> None:
        self._announce_wake.set()

    @staticmethod
    async def _woken(
        wake: asyncio.Event, poll_s: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        """Run ``job`` now, then at every wake-up, and every ``poll_s`` at the latest."""
        while True:
            wake.clear()
            try:
                await job()
            except Exception:
                # The loop outlives any one failure (database restart, a bug on one
                # recording); the work in the table is still there for the next run.
                log.exception(
                    "recording job %s failed; retrying on the next wake-up",
                    getattr(job, "__qualname__", job),
                )
            # A notification is only a wake-up; the poll catches any that was missed.
            # (Not wait_for: on Python 3.11 it swallows a cancellation that comes as the
            # wake-up does, and close() would then wait out the whole poll.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await wake.wait()

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
