"""Retention on a real PostgreSQL: per-department limits, files and rows, logged."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from recording import repository
from recording.config import RecordingConfig
from tests.recording.conftest import T0, make_setup, record_call


async def state_of(pool: asyncpg.Pool, recording_id: int) -> repository.Recording:
    async with pool.acquire() as conn:
        rec = await repository.get(conn, recording_id)
    assert rec is not None
    return rec


async def test_retention_deletes_only_what_is_older_than_its_departments_limit(
    db_pool: asyncpg.Pool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Default 30 days; department 7 keeps 5 days (see make_setup).
    s = make_setup(db_pool, tmp_path)
    now = T0 + timedelta(days=100)
    ages = {"old": (40, None), "young": (20, None), "dept_old": (6, 7), "dept_young": (4, 7),
            "other_dept_old": (31, 9), "other_dept_young": (29, 9)}  # fmt: skip
    ids = {}
    for name, (days, department) in ages.items():
        s.clock.set(now - timedelta(days=days))
        call = await record_call(s.service, department_id=department)
        await s.service.finish(call.recording.id, s.clock.now())
        ids[name] = call.recording.id
    async with db_pool.acquire() as conn:
        await repository.save_transcript(conn, ids["old"], "m", [], "안녕", 1)
    s.clock.set(now - timedelta(days=50))
    live = await record_call(s.service)  # raw, call not over: never touched by retention
    failed = await record_call(s.service)
    Path(failed.recording.agent_leg).write_bytes(b"not audio")
    assert await s.service.finish(failed.recording.id, s.clock.now()) == "failed"

    with caplog.at_level(logging.INFO, logger="recording"):
        removed = await s.service.apply_retention(now)

    expected = [ids["old"], ids["dept_old"], ids["other_dept_old"], failed.recording.id]
    assert sorted(removed) == sorted(expected)
    assert not Path(failed.recording.customer_leg).exists(), "a failure's legs go too"
    for name, recording_id in ids.items():
        rec = await state_of(db_pool, recording_id)
        gone = recording_id in removed
        assert (rec.state == "deleted") is gone, name
        assert await s.store.exists(rec.storage_key or "") is not gone, name
    async with db_pool.acquire() as conn:
        assert await repository.get_transcript(conn, ids["old"]) is None
    assert (await state_of(db_pool, live.recording.id)).state == "raw"
    logged = [r for r in caplog.records if r.getMessage().startswith("recording removed")]
    assert sorted(r.recording_id for r in logged) == sorted(removed)  # type: ignore[attr-defined]
    assert await s.service.apply_retention(now) == [], "a second run finds nothing"


async def test_retention_without_limits_keeps_everything(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    s = make_setup(db_pool, tmp_path, RecordingConfig())
    assert await s.service.apply_retention(T0 + timedelta(days=10_000)) == []
