"""The real app with the routing and customer plugins, for the HTTP tests."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import crm_connectors.plugin
import routing.plugin
from server import app as server_app
from server.config import Config
from tests.app_helpers import make_config

PLUGINS = (routing.plugin.setup, crm_connectors.plugin.setup)


def build_app(db_dsn: str, data_dir: Path, **sections: dict) -> web.Application:
    config: Config = make_config(
        db_dsn, data_dir, timers={"offer_sweep_interval_s": 0.1}, **sections
    )
    app = server_app.create_app(config)
    # Until the server lists them itself.
    for setup in PLUGINS:
        if setup not in server_app.FEATURE_PLUGINS:
            setup(app)
    return app


async def start(db_dsn: str, data_dir: Path) -> TestClient:
    client = TestClient(TestServer(build_app(db_dsn, data_dir)))
    await client.start_server()
    return client
