"""The real app (with the routing and customer plugins) for the HTTP tests."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from tests.app_helpers import make_config


def build_app(db_dsn: str, data_dir: Path) -> web.Application:
    return create_app(make_config(db_dsn, data_dir, timers={"offer_sweep_interval_s": 0.1}))


async def start(db_dsn: str, data_dir: Path) -> TestClient:
    client = TestClient(TestServer(build_app(db_dsn, data_dir)))
    await client.start_server()
    return client
