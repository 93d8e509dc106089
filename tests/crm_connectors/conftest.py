from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from crm_connectors.store import CustomerStore
from server.clock import ManualClock
from tests.routing.helpers import START, clean


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def store(db_pool: asyncpg.Pool, clock: ManualClock) -> AsyncIterator[CustomerStore]:
    await clean(db_pool)
    yield CustomerStore(clock.now, default_country_code="7")
