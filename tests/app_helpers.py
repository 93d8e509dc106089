"""Building the real app for tests and logging in to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.auth.services import UserService
from server.clock import Clock
from server.config import Config, load_config
from server.db import create_pool


def make_config(db_dsn: str, data_dir: Path, **sections: dict[str, Any]) -> Config:
    base = load_config(environ={})
    return base.replace(
        server={"data_dir": str(data_dir), "secret_key": "test-secret-key-" + "x" * 16},
        database={"url": db_dsn, "pool_min": 1, "pool_max": 5},
        agi={"port": 0},
        # The Vosk workers have tests of their own; other tests need not load a model.
        recording={"transcribe": False},
        **sections,
    )


async def start_client(config: Config, clock: Clock | None = None) -> TestClient:
    client = TestClient(TestServer(create_app(config, clock=clock)))
    await client.start_server()
    return client


async def create_user(db_dsn: str, username: str, role: str, password: str = "correct-horse-1"):
    pool = await create_pool(db_dsn, 1, 1)
    try:
        return await UserService(pool).create(username, password, role)
    finally:
        await pool.close()


async def login(client: TestClient, username: str, password: str = "correct-horse-1") -> str:
    """Log the client in (cookie kept by the client); returns the CSRF token."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status == 200, await response.text()
    return (await response.json())["csrf_token"]
