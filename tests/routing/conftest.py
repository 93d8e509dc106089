from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.routing.helpers import Stack, clean, make_stack


@pytest.fixture
async def stack(db_pool: asyncpg.Pool) -> AsyncIterator[Stack]:
    """The routing services on a clean database, on a stopped clock."""
    await clean(db_pool)
    yield make_stack(db_pool)
