"""``switchboard recordings transcribe --pending``: work through the transcription backlog."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from server.config import Config

from .config import RecordingConfig
from .progress import ProgressBar
from .services import TranscriptionRun, TranscriptionService


def register_cli(subparsers: Any, load_config: Callable[[argparse.Namespace], Config]) -> None:
    """Add the ``recordings`` command group to the ``switchboard`` parser."""
    recordings = subparsers.add_parser("recordings", help="call recordings").add_subparsers(
        dest="recordings", required=True
    )
    transcribe = recordings.add_parser(
        "transcribe",
        help="transcribe recordings waiting for a transcript (resumable: run it again to "
        "continue where an interrupted run stopped)",
    )
    transcribe.add_argument(
        "--pending", action="store_true", required=True, help="every recording in the queue"
    )
    transcribe.add_argument("--limit", type=int, default=None, help="stop after this many")
    transcribe.set_defaults(func=lambda args: _transcribe(args, load_config(args)))


def _transcribe(args: argparse.Namespace, config: Config) -> int:
    run = asyncio.run(_transcribe_with(config, args.limit))
    return 1 if run.failed else 0


async def _transcribe_with(config: Config, limit: int | None) -> TranscriptionRun:
    from server.clock import SystemClock
    from server.db import create_pool
    from server.stack import database_url

    from .storage import LocalDirectoryStore
    from .transcription import Transcriber

    settings: RecordingConfig = config.recording
    if settings.model_path is None:
        raise ValueError("no Vosk model: set [recording] model_path")
    transcriber = Transcriber(settings.model_path, settings.workers)
    store = LocalDirectoryStore(settings.storage_path(Path(config.server.data_dir)))
    async with database_url(config) as dsn:
        pool = await create_pool(dsn, 1, settings.workers + 2)
        try:
            load_s = await transcriber.start()
            print(f"model loaded in {load_s:.1f} s", file=sys.stderr)
            # No bus in a CLI run: the transcripts are left unclaimed, and a running
            # server, woken by their commit, publishes them (recording.announcing).
            service = TranscriptionService(
                pool,
                store,
                transcriber,
                settings,
                SystemClock().now,
                lambda _event: None,
                announce=False,
            )
            return await transcribe_pending(service, sys.stderr, limit)
        finally:
            await transcriber.close()
            await pool.close()


async def transcribe_pending(
    service: TranscriptionService, out: TextIO, limit: int | None = None
) -> TranscriptionRun:
    """Run the backlog with a progress bar on ``out``, then a one-line summary."""
    bar = ProgressBar(out)
    backlog = await service.backlog()
    print(f"{backlog} recording(s) waiting for a transcript", file=out)
    try:
        run = await service.run_pending(limit=limit, on_progress=bar.update)
    finally:
        bar.finish()
    print(f"transcribed {len(run.done)}, failed {len(run.failed)}", file=out)
    return run
