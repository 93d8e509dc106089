"""Wiring of recording into the app: the live recorder on the bus, the journal linker,
the HTTP API, and the background jobs.

Needs ``Config.recording`` (a :class:`recording.config.RecordingConfig`). With
``transcribe`` on, the worker processes load the model at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from server.keys import AMI, BUS, CLOCK, CONFIG, POOL

from . import http
from .announcing import TranscriptAnnouncer
from .jobs import RecordingJobs
from .linking import RecordingLinker
from .live import LiveRecorder
from .mixmonitor import check_spool
from .queries import RecordingQueries
from .services import RecordingService, TranscriptionService
from .storage import LocalDirectoryStore
from .transcription import Transcriber

log = logging.getLogger("recording")

RECORDINGS = web.AppKey("recordings", RecordingService)
TRANSCRIPTION: web.AppKey[TranscriptionService | None] = web.AppKey("transcription")


async def _recording(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = config.recording
    data_dir = Path(config.server.data_dir)
    now = app[CLOCK].now
    store = LocalDirectoryStore(settings.storage_path(data_dir))
    spool = check_spool(settings.spool_path(data_dir).resolve())
    spool.mkdir(parents=True, exist_ok=True)
    bus = app[BUS]
    recordings = RecordingService(app[POOL], store, settings, spool, now, bus.publish)
    transcriber = None
    transcription = None
    if settings.transcribe and settings.model_path is None:
        log.warning("transcription is on but no model is installed or configured: off")
    elif settings.transcribe and settings.model_path is not None:
        transcriber = Transcriber(settings.model_path, settings.workers)
        await transcriber.start()
        transcription = TranscriptionService(
            app[POOL], store, transcriber, settings, now, bus.publish
        )
    app[RECORDINGS] = recordings
    app[TRANSCRIPTION] = transcription
    app[http.QUERIES] = RecordingQueries(app[POOL], store)
    linker = RecordingLinker(app[POOL], now, bus.publish)
    unsubscribe_linker = linker.subscribe(bus.subscribe)
    live = LiveRecorder(recordings, app[AMI], app[POOL], settings)
    live.subscribe(bus.subscribe)
    app[http.LIVE] = live
    announcer = TranscriptAnnouncer(app[POOL], now, bus.publish)
    jobs = RecordingJobs(
        config.database.url.get_secret_value(),
        recordings,
        transcription,
        linker,
        settings,
        now,
        announcer,
    )
    await jobs.start()
    yield
    await live.close()
    unsubscribe_linker()
    await jobs.close()
    if transcriber is not None:
        await transcriber.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_recording)
    http.setup_routes(app)
