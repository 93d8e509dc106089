"""The transcription queue on a real PostgreSQL: exclusive claims, leases, attempts."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from recording import repository
from tests.recording.conftest import T0, Setup, record_call


async def converted(setup: Setup, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        call = await record_call(setup.service, length_s=3.0)
        assert await setup.service.finish(call.recording.id, T0) == "converted"
        ids.append(call.recording.id)
    return ids


@pytest.fixture
async def empty_queue(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE recordings SET transcription_state = NULL")


async def test_two_workers_never_claim_the_same_recording(
    setup: Setup, db_pool: asyncpg.Pool, empty_queue: None
) -> None:
    ids = await converted(setup, 4)
    async with db_pool.acquire() as one, db_pool.acquire() as two:
        async with one.transaction():
            first = await repository.claim_transcriptions(one, T0, 2, 600, 2)
            # The first claim is not committed yet: its rows are locked, not skipped over.
            async with two.transaction():
                second = await repository.claim_transcriptions(two, T0, 10, 600, 2)
    assert [r.id for r in first] == ids[:2]
    assert [r.id for r in second] == ids[2:]
    assert all(r.transcription_state == "running" and r.transcription_attempts == 1
               for r in first + second)  # fmt: skip
    async with db_pool.acquire() as conn:
        assert await repository.claim_transcriptions(conn, T0, 10, 600, 2) == []


async def test_a_claim_whose_worker_died_is_taken_again_after_its_lease_then_failed(
    setup: Setup, db_pool: asyncpg.Pool, empty_queue: None
) -> None:
    (recording_id,) = await converted(setup, 1)
    async with db_pool.acquire() as conn:
        (claimed,) = await repository.claim_transcriptions(conn, T0, 1, 600, 2)
        # Lease: 600 s plus twice the 3 s of audio.
        assert claimed.transcription_lease_until == T0 + timedelta(seconds=606)
        assert (
            await repository.claim_transcriptions(conn, T0 + timedelta(seconds=600), 1, 600, 2)
            == []
        )
        later = T0 + timedelta(seconds=607)
        assert await repository.count_transcription_backlog(conn, later) == 1
        (again,) = await repository.claim_transcriptions(conn, later, 1, 600, 2)
        assert again.id == recording_id and again.transcription_attempts == 2
        much_later = later + timedelta(hours=1)
        assert await repository.fail_abandoned_transcriptions(conn, much_later, 3) == []
        assert await repository.fail_abandoned_transcriptions(conn, much_later, 2) == [recording_id]
        rec = await repository.get(conn, recording_id)
    assert rec is not None and rec.transcription_state == "failed"
    assert rec.transcription_error == "the worker stopped 2 times while transcribing"


async def test_released_claims_go_back_to_the_queue_without_counting_an_attempt(
    setup: Setup, db_pool: asyncpg.Pool, empty_queue: None
) -> None:
    (recording_id,) = await converted(setup, 1)
    async with db_pool.acquire() as conn:
        await repository.claim_transcriptions(conn, T0, 1, 600, 2)
        await repository.release_transcriptions(conn, [recording_id])
        rec = await repository.get(conn, recording_id)
    assert rec is not None
    assert (rec.transcription_state, rec.transcription_attempts) == ("pending", 0)
