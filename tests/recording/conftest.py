"""Fixtures of recording tests: a spool for raw legs, a store, a clock, the service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from recording.config import RecordingConfig
from recording.repository import Recording
from recording.services import RecordingService
from recording.storage import LocalDirectoryStore
from server.clock import ManualClock
from tests.recording.speech import Span, write_leg

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Setup:
    service: RecordingService
    store: LocalDirectoryStore
    clock: ManualClock
    spool: Path
    config: RecordingConfig
    events: list[object]


def make_setup(pool: asyncpg.Pool, tmp: Path, config: RecordingConfig | None = None) -> Setup:
    config = config or RecordingConfig(retention_days=30, department_retention_days={7: 5})
    clock = ManualClock(T0)
    store = LocalDirectoryStore(tmp / "store")
    spool = tmp / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    events: list[object] = []
    service = RecordingService(pool, store, config, spool, clock.now, events.append)
    return Setup(service, store, clock, spool, config, events)


@pytest.fixture(scope="module")
def setup(db_pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return make_setup(db_pool, tmp_path_factory.mktemp("recording"))


@dataclass(frozen=True)
class Call:
    recording: Recording
    customer_speech: list[Span]
    agent_speech: list[Span]


async def record_call(
    service: RecordingService,
    customer: Sequence[tuple[float, str]] = ((0.3, "안녕하세요"),),
    agent: Sequence[tuple[float, str]] = ((1.5, "네 고객님"),),
    length_s: float = 3.0,
    call_id: str | None = "1700000000.1",
    department_id: int | None = None,
    call_started_at: datetime | None = None,
    customer_id: int | None = None,
) -> Call:
    """What the live half does: register, let 'MixMonitor' write both legs."""
    rec = await service.begin(
        call_id, department_id, call_started_at=call_started_at, customer_id=customer_id
    )
    c = write_leg(Path(rec.customer_leg), customer, length_s)
    a = write_leg(Path(rec.agent_leg), agent, length_s)
    return Call(rec, c, a)
