"""Bringing the pieces up: the database the config names (or an embedded one), the
Asterisk it names (or a local one), and the HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from server.app import create_app
from server.config import Config
from server.db import EmbeddedPostgres
from server.logging_setup import setup_logging

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def database_url(config: Config) -> AsyncIterator[str]:
    """The configured database, or an embedded PostgreSQL in the data directory."""
    url = config.database.url.get_secret_value()
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(Path(config.server.data_dir) / "postgres")
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


async def start_site(app: web.Application, config: Config) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port)
    await site.start()
    return runner


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve_forever(config: Config) -> int:
    """``switchboard serve``: the server alone, until SIGINT/SIGTERM."""
    setup_logging(config.logging.level, config.logging.json_lines)
    runner = await start_site(create_app(config), config)
    log.info("serving", extra={"host": config.server.host, "port": config.server.port})
    try:
        await wait_for_stop_signal()
    finally:
        await runner.cleanup()
    return 0
