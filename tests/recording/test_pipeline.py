"""From raw legs to a stored stereo file on a real PostgreSQL: conversion, failures
and crash recovery."""

from __future__ import annotations

import asyncio
import hashlib
import os
from array import array
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from recording import repository
from recording.config import RecordingConfig
from recording.events import RecordingFailed, RecordingStored
from recording.storage import LocalDirectoryStore
from tests.recording.conftest import T0, Setup, make_setup, record_call
from tests.recording.speech import write_wav


async def fetch(pool: asyncpg.Pool, recording_id: int) -> repository.Recording:
    async with pool.acquire() as conn:
        rec = await repository.get(conn, recording_id)
    assert rec is not None
    return rec


async def stored_bytes(store: LocalDirectoryStore, key: str) -> bytes:
    return b"".join([c async for c in store.read_range(key)])


async def test_a_finished_call_is_stored_as_one_file_with_its_facts_and_queued(
    setup: Setup, db_pool: asyncpg.Pool
) -> None:
    call = await record_call(setup.service, length_s=3.0)
    assert Path(call.recording.customer_leg).parent == setup.spool
    assert await setup.service.finish(call.recording.id, T0 + timedelta(seconds=3)) == "converted"
    rec = await fetch(db_pool, call.recording.id)
    assert rec.state == "converted"
    assert rec.storage_key == f"2026/11/22/{rec.id}.ogg" and rec.format == "ogg"
    assert rec.duration_s == pytest.approx(3.0) and rec.sample_rate == 8000
    data = await stored_bytes(setup.store, rec.storage_key)
    assert rec.size_bytes == len(data) and rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.transcription_state == "pending"
    assert setup.events[-1] == RecordingStored(
        rec.id, "1700000000.1", None, rec.storage_key, "ogg", rec.duration_s,
        rec.size_bytes, rec.sha256, T0,
    )  # fmt: skip
    assert rec.legs_removed_at is not None
    assert not Path(rec.customer_leg).exists() and not Path(rec.agent_leg).exists()


async def test_corrupt_and_empty_recordings_fail_with_a_reason_and_the_next_one_converts(
    setup: Setup, db_pool: asyncpg.Pool
) -> None:
    corrupt = await record_call(setup.service)
    Path(corrupt.recording.agent_leg).write_bytes(b"\x00garbage" * 100)
    empty = await setup.service.begin("1700000000.2")
    for leg in (empty.customer_leg, empty.agent_leg):
        write_wav(Path(leg), array("h"))
    good = await record_call(setup.service)
    ended = T0 + timedelta(seconds=5)
    outcomes = [
        await setup.service.finish(r.id, ended) for r in (corrupt.recording, empty, good.recording)
    ]
    assert outcomes == ["failed", "failed", "converted"]
    failed = await fetch(db_pool, corrupt.recording.id)
    assert failed.state == "failed" and "not a WAV file" in (failed.failure_reason or "")
    assert failed.transcription_state is None
    assert Path(failed.customer_leg).exists(), "the legs of a failure stay for inspection"
    assert (await fetch(db_pool, empty.id)).failure_reason == "both legs are empty"
    assert RecordingFailed(empty.id, "1700000000.2", "both legs are empty") in setup.events


async def test_recovery_converts_legs_a_crash_left_behind_and_leaves_live_calls_alone(
    setup: Setup, db_pool: asyncpg.Pool
) -> None:
    setup.clock.set(T0 + timedelta(hours=1))
    # Hang-up seen, then the server died before converting.
    seen_ended = await record_call(setup.service)
    async with db_pool.acquire() as conn:
        await repository.set_ended(conn, seen_ended.recording.id, T0 + timedelta(hours=1))
    # The server died during the call: nobody saw the hang-up; the legs stopped growing.
    unseen = await record_call(setup.service)
    quiet_since = (T0 + timedelta(minutes=50)).timestamp()
    for leg in (unseen.recording.customer_leg, unseen.recording.agent_leg):
        os.utime(leg, (quiet_since, quiet_since))
    # Still being written: a live call.
    live = await record_call(setup.service)
    now = T0 + timedelta(hours=1, minutes=1)
    for leg in (live.recording.customer_leg, live.recording.agent_leg):
        os.utime(leg, (now.timestamp() - 1, now.timestamp() - 1))
    setup.clock.set(now)

    report = await setup.service.recover()

    assert seen_ended.recording.id in report.converted
    assert unseen.recording.id in report.converted
    assert live.recording.id not in report.converted + report.failed
    assert (await fetch(db_pool, unseen.recording.id)).ended_at == T0 + timedelta(minutes=50)
    still_live = await fetch(db_pool, live.recording.id)
    assert still_live.state == "raw" and Path(still_live.customer_leg).exists()
    assert (await setup.service.recover()).converted == (), "a second run finds nothing new"


async def test_recovery_removes_legs_left_beside_a_stored_file(
    setup: Setup, db_pool: asyncpg.Pool
) -> None:
    call = await record_call(setup.service)
    await setup.service.finish(call.recording.id, setup.clock.now())
    # As if the process died after storing, before removing the legs.
    for leg in (call.recording.customer_leg, call.recording.agent_leg):
        write_wav(Path(leg), array("h", [1, 2, 3]))
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE recordings SET legs_removed_at = NULL WHERE id = $1", call.recording.id
        )
    report = await setup.service.recover()
    assert call.recording.id in report.legs_removed
    assert not Path(call.recording.customer_leg).exists()
    assert (await fetch(db_pool, call.recording.id)).legs_removed_at is not None


async def test_two_processes_never_convert_the_same_recording(
    setup: Setup, db_pool: asyncpg.Pool
) -> None:
    call = await record_call(setup.service)
    async with db_pool.acquire() as conn:
        await repository.set_ended(conn, call.recording.id, setup.clock.now())
    outcomes = await asyncio.gather(
        setup.service.process_raw(call.recording.id), setup.service.process_raw(call.recording.id)
    )
    assert sorted(outcomes) == ["converted", "skipped"]


async def test_mp3_is_configurable(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    mp3 = make_setup(db_pool, tmp_path, RecordingConfig(format="mp3", transcribe=False))
    call = await record_call(mp3.service)
    await mp3.service.finish(call.recording.id, mp3.clock.now())
    rec = await fetch(db_pool, call.recording.id)
    assert rec.format == "mp3" and (rec.storage_key or "").endswith(".mp3")
    assert rec.transcription_state is None, "transcription is off"
    assert (await stored_bytes(mp3.store, rec.storage_key or ""))[:3] in (b"ID3", b"\xff\xf3")
