"""Stored recordings linked to their call in the journal, in either order, once, on a
real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from pbx.events import CallRecord, Party
from pbx.journal import CallJournal
from recording.events import RecordingLinked
from recording.jobs import RecordingJobs
from recording.linking import RecordingLinker
from tests.recording.conftest import T0, Setup, make_setup, record_call

DEADLINE_S = 10.0


@pytest.fixture(scope="module")
def setup(db_pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return make_setup(db_pool, tmp_path_factory.mktemp("linking"))


@pytest.fixture(scope="module")
def linker(setup: Setup, db_pool: asyncpg.Pool) -> RecordingLinker:
    return RecordingLinker(db_pool, setup.clock.now, setup.events.append)


def call_record(call_id: str, minute: int) -> CallRecord:
    start = T0 + timedelta(minutes=minute)
    agent = Party("1001", "Agent 1001", f"PJSIP/1001-{minute:08x}")
    return CallRecord(
        call_id=call_id,
        caller=Party("79161234567", None, f"PJSIP/trunk-{minute:08x}"),
        destination="500",
        answered_by=agent,
        disposition="answered",
        hangup_by="caller",
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        started_at=start,
        answered_at=start + timedelta(seconds=3),
        ended_at=start + timedelta(seconds=10),
        transfers=(),
        channels=(f"PJSIP/trunk-{minute:08x}", agent.channel),
        rang=(agent,),
    )


async def stored_recording(setup: Setup, record: CallRecord, customer_id: int | None = None) -> int:
    call = await record_call(
        setup.service,
        call_id=record.call_id,
        call_started_at=record.started_at,
        customer_id=customer_id,
    )
    assert await setup.service.finish(call.recording.id, record.ended_at) == "converted"
    return call.recording.id


async def linked_recording(pool: asyncpg.Pool, record: CallRecord) -> int | None:
    return await pool.fetchval(
        "SELECT recording_id FROM calls WHERE call_id = $1 AND started_at = $2",
        record.call_id,
        record.started_at,
    )


def links_of(setup: Setup, recording_id: int) -> list[RecordingLinked]:
    return [
        e for e in setup.events if isinstance(e, RecordingLinked) and e.recording_id == recording_id
    ]


async def test_journal_first_the_stored_recording_links_itself_once(
    setup: Setup, db_pool: asyncpg.Pool, linker: RecordingLinker
) -> None:
    record = call_record("1700000000.11", 1)
    row_id = await CallJournal(db_pool).record(record)
    recording_id = await stored_recording(setup, record, customer_id=77)
    assert await linker.link_pending() != []
    assert await linked_recording(db_pool, record) == recording_id
    (event,) = links_of(setup, recording_id)
    assert event == RecordingLinked(
        recording_id=recording_id,
        call_row_id=row_id,  # type: ignore[arg-type]
        call_id="1700000000.11",
        call_started_at=record.started_at,
        customer_id=77,
        caller_number="79161234567",
        duration_s=event.duration_s,
        at=setup.clock.now(),
    )
    assert event.duration_s == pytest.approx(3.0)
    assert await linker.link_pending() == [], "linked once"


async def test_recording_first_the_journal_row_wakes_the_linker_through_notify(
    setup: Setup, db_dsn: str, db_pool: asyncpg.Pool
) -> None:
    record = call_record("1700000000.12", 2)
    recording_id = await stored_recording(setup, record)
    published: asyncio.Queue[object] = asyncio.Queue()
    linker = RecordingLinker(db_pool, setup.clock.now, published.put_nowait)
    jobs = RecordingJobs(db_dsn, setup.service, None, linker, setup.config, setup.clock.now)
    await jobs.start()
    try:
        await CallJournal(db_pool).record(record)
        # The fallback poll is a minute away: only the notification links it in time.
        event = await asyncio.wait_for(published.get(), DEADLINE_S)
    finally:
        await jobs.close()
    assert isinstance(event, RecordingLinked) and event.recording_id == recording_id
    assert published.empty()
    assert await linked_recording(db_pool, record) == recording_id


async def test_linkers_racing_in_several_processes_report_each_link_once(
    setup: Setup, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    record = call_record("1700000000.13", 3)
    await CallJournal(db_pool).record(record)
    recording_id = await stored_recording(setup, record)
    others = [make_setup(db_pool, tmp_path / str(i)) for i in range(4)]
    linkers = [RecordingLinker(db_pool, o.clock.now, o.events.append) for o in others]
    await asyncio.gather(*(linker.link_pending() for linker in linkers))
    reported = [e for o in others for e in links_of(o, recording_id)]
    assert len(reported) == 1
    assert await linked_recording(db_pool, record) == recording_id


async def test_a_call_of_a_restarted_asterisk_with_the_same_id_is_not_linked(
    setup: Setup, db_pool: asyncpg.Pool, linker: RecordingLinker
) -> None:
    # Asterisk reuses ids after a restart: only (call_id, started_at) names a call.
    earlier, later = call_record("1700000000.14", 4), call_record("1700000000.14", 5)
    await CallJournal(db_pool).record(earlier)
    recording_id = await stored_recording(setup, later)
    await linker.link_pending()
    assert await linked_recording(db_pool, earlier) is None
    assert links_of(setup, recording_id) == []
    await CallJournal(db_pool).record(later)
    await linker.link_pending()
    assert await linked_recording(db_pool, later) == recording_id


async def test_every_recording_of_a_transferred_call_is_linked_and_the_journal_names_the_first(
    setup: Setup, db_pool: asyncpg.Pool, linker: RecordingLinker
) -> None:
    # One recording per agent of a transferred call; the second agent's may be
    # stored before the first's, or in another run of the linker.
    record = call_record("1700000000.15", 6)
    first = await record_call(
        setup.service, call_id=record.call_id, call_started_at=record.started_at
    )
    second = await stored_recording(setup, record)
    await CallJournal(db_pool).record(record)
    await linker.link_pending()
    assert await linked_recording(db_pool, record) == second
    assert await setup.service.finish(first.recording.id, record.ended_at) == "converted"
    await linker.link_pending()
    assert await linked_recording(db_pool, record) == first.recording.id
    assert [len(links_of(setup, r)) for r in (first.recording.id, second)] == [1, 1]
