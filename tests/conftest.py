"""Shared fixtures: a real PostgreSQL (pgserver unless DATABASE_URL is set), a real
Asterisk 22 and real baresip softphones."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from server.db import EmbeddedPostgres, create_pool
from tests.db import create_database_from, create_template, drop_database


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A DSN with rights to create databases, on a real PostgreSQL."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    # Not under pytest's tmp_path: PostgreSQL runs as its own system user, and pytest
    # makes its base directory owner-only (again at every run, even a concurrent one).
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-test-pg-"))
    server = EmbeddedPostgres(data_dir)
    dsn = server.start()
    try:
        yield dsn
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def db_template(pg_admin_dsn: str) -> str:
    """Name of a database with every migration applied, to copy from."""
    return await create_template(pg_admin_dsn)


@pytest.fixture(scope="module")
async def db_dsn(pg_admin_dsn: str, db_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test module."""
    dsn = await create_database_from(pg_admin_dsn, db_template)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="module")
async def db_pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()
