"""The recordings API scoped by the one rule (crm_connectors.access.CallScope): a
recording is seen by whoever sees its call in the journal. A supervisor reads, plays and
finds in transcripts the recordings of their departments' calls (a call's department is
its interaction's), a recording of another department answers 404 like a missing one; an
admin all; an operator those of the calls their phone took part in. The recording of a
call in progress is controlled by the supervisors of its interaction's department."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from crm_connectors.keys import ACCESS
from pbx.events import CallRecord, Party
from pbx.journal import CallJournal
from recording import repository
from recording.dialogue import Utterance, Word, dialogue_text, dialogue_to_json
from recording.events import RecordingLinked
from recording.plugin import RECORDINGS
from routing.keys import ROUTING
from routing.models import AgentProfile, NewInteraction
from routing.settings import DepartmentSettings
from server.auth import User
from server.keys import BUS, PHONES, POOL
from tests.app_helpers import create_user, login, make_config, start_client
from tests.recording.conftest import T0, record_call

DEADLINE_S = 10.0
PHRASE = "номер карты"


@dataclass(frozen=True)
class Center:
    client: TestClient
    people: dict[str, int]
    departments: dict[str, int]
    # department name → recording id
    recordings: dict[str, int]


def call_record(n: int, agent: str) -> CallRecord:
    start = T0 + timedelta(hours=1, minutes=n)
    caller = Party("79161234567", None, f"PJSIP/trunk-{n:08x}")
    answered = Party(agent, None, f"PJSIP/{agent}-{n:08x}")
    return CallRecord(
        call_id=f"1700000800.{n}",
        caller=caller,
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
        channels=(caller.channel, answered.channel),
        rang=(answered,),
    )


@pytest.fixture(scope="module")
async def center(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Center]:
    """Sales (Sveta's; Olga answers on 1001) and support (Sue's; Oleg on 1003): one
    recorded, transcribed inbound call each."""
    people = {
        name: (await create_user(db_dsn, name, role)).id
        for name, role in [
            ("olga", "operator"),
            ("oleg", "operator"),
            ("sveta", "supervisor"),
            ("sue", "supervisor"),
            ("ada", "admin"),
        ]
    }
    client = await start_client(make_config(db_dsn, tmp_path_factory.mktemp("data")))
    app = client.server.app
    pool = app[POOL]
    departments: dict[str, int] = {}
    interactions: dict[str, int] = {}
    async with pool.acquire() as conn:
        for name, supervisor in (("sales", "sveta"), ("support", "sue")):
            departments[name] = (
                await app[ROUTING].admin.create_department(
                    conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                )
            ).department.id
            customer = await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
            interactions[name] = (
                await app[ROUTING].service.enqueue(
                    conn, NewInteraction("voice", customer, departments[name])
                )
            ).id
    for name, endpoint in (("olga", "1001"), ("oleg", "1003")):
        await app[PHONES].set_agent(people[name], endpoint, f"secret-{name}-x")
    linked: asyncio.Queue[RecordingLinked] = asyncio.Queue()
    unsubscribe = app[BUS].subscribe(RecordingLinked, linked.put_nowait)
    journal = CallJournal(pool)
    recordings: dict[str, int] = {}
    for n, (name, endpoint) in enumerate((("sales", "1001"), ("support", "1003")), start=1):
        record = call_record(n, endpoint)
        await journal.record(record)
        # What the IVR's facts do for a call it queued.
        await pool.execute(
            "UPDATE calls SET interaction_id = $2 WHERE call_id = $1",
            record.call_id,
            interactions[name],
        )
        call = await record_call(
            app[RECORDINGS],
            call_id=record.call_id,
            call_started_at=record.started_at,
            department_id=departments[name],
        )
        await app[RECORDINGS].finish(call.recording.id, record.ended_at)
        recordings[name] = call.recording.id
    async with asyncio.timeout(DEADLINE_S):
        seen = {(await linked.get()).recording_id for _ in recordings}
    unsubscribe()
    assert seen == set(recordings.values())
    async with pool.acquire() as conn:
        for recording_id in recordings.values():
            words = tuple(
                Word(w, 1.0 + 0.4 * i, 1.3 + 0.4 * i, 0.9) for i, w in enumerate(PHRASE.split())
            )
            dialogue = [Utterance("customer", words)]
            await repository.save_transcript(
                conn, recording_id, "vosk_model_ru", dialogue_to_json(dialogue),
                dialogue_text(dialogue), len(words),
            )  # fmt: skip
    yield Center(client, people, departments, recordings)
    await client.close()


async def visible(center: Center, username: str) -> set[str]:
    """The departments whose recording ``username`` reads, plays and finds."""
    await login(center.client, username)
    shown = set()
    for name, recording_id in center.recordings.items():
        details = await center.client.get(f"/api/v1/recordings/{recording_id}")
        audio = await center.client.get(f"/api/v1/recordings/{recording_id}/audio")
        assert details.status == audio.status, (username, name)
        assert details.status in (200, 404), (username, name)
        if details.status == 200:
            shown.add(name)
    search = await center.client.get("/api/v1/recordings/search", params={"q": PHRASE})
    assert search.status == 200
    found = {h["recording_id"] for h in (await search.json())["results"]}
    assert found == {center.recordings[name] for name in shown}, username
    return shown


async def test_a_supervisor_sees_the_recordings_of_their_departments_only(
    center: Center,
) -> None:
    assert await visible(center, "sue") == {"support"}
    assert await visible(center, "sveta") == {"sales"}
    # The newest match is support's: Sveta's search reads on to find her own.
    search = await center.client.get(
        "/api/v1/recordings/search", params={"q": PHRASE, "limit": "1"}
    )
    assert [h["recording_id"] for h in (await search.json())["results"]] == [
        center.recordings["sales"]
    ]


async def test_an_admin_sees_every_recording_an_operator_those_of_their_phone(
    center: Center,
) -> None:
    assert await visible(center, "ada") == {"sales", "support"}
    assert await visible(center, "olga") == {"sales"}
    assert await visible(center, "oleg") == {"support"}


async def test_a_supervisor_controls_the_calls_in_progress_of_their_departments_only(
    center: Center,
) -> None:
    """Pausing a recording needs the call live on Asterisk (test_live.py); who may is
    the one rule's, checked here on a call whose interaction is being served."""
    app = center.client.server.app
    routing = app[ROUTING]
    olga = center.people["olga"]
    async with app[POOL].acquire() as conn:
        await routing.admin.set_agent_profile(
            conn,
            olga,
            AgentProfile(
                capacity=1000,
                channel_costs={"voice": 10},
                departments=frozenset({center.departments["sales"]}),
            ),
        )
        await routing.service.set_agent_status(conn, olga, "available")
        customer = await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
        interaction = await routing.service.enqueue(
            conn,
            NewInteraction(
                "voice",
                customer,
                center.departments["sales"],
                external_refs={"call_id": "1700000800.live"},
            ),
        )
        for _ in range(200):
            if any(
                o.interaction_id == interaction.id
                for o in await routing.service.open_offers(conn, olga)
            ):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the router made no offer")

        async def supervises(name: str, role: str) -> bool:
            user = User(center.people[name], name, name, role)  # type: ignore[arg-type]
            return await app[ACCESS].supervises_call(conn, user, "1700000800.live")

        assert await supervises("sveta", "supervisor")
        assert not await supervises("sue", "supervisor")
        assert await supervises("ada", "admin")
        assert not await supervises("olga", "operator")
