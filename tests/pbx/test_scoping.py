"""The call journal (``GET /api/v1/calls``, JSON and CSV) scoped by the one rule
(crm_connectors.access.CallScope): a supervisor reads the calls of the departments they
supervise (a call's department is its interaction's) and those their own phone took part
in; a call of no department (between agents, a click-to-call) only its participants and
admins; an admin every call."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pbx.events import CallRecord, Party
from pbx.journal import CallJournal
from routing.keys import ROUTING
from routing.models import NewInteraction
from routing.settings import DepartmentSettings
from server.keys import POOL
from tests.app_helpers import create_user, login, make_config, start_client

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def call(n: int, caller: str, destination: str, answered: str) -> CallRecord:
    start = T0 + timedelta(minutes=n)
    caller_party = Party(caller, None, f"PJSIP/{caller}-{n:08x}")
    answered_party = Party(answered, None, f"PJSIP/{answered}-{n + 100:08x}")
    return CallRecord(
        call_id=f"1700000700.{n}",
        caller=caller_party,
        destination=destination,
        answered_by=answered_party,
        disposition="answered",
        hangup_by="caller",
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        started_at=start,
        answered_at=start + timedelta(seconds=3),
        ended_at=start + timedelta(seconds=30),
        transfers=(),
        channels=(caller_party.channel, answered_party.channel),
        rang=(answered_party,),
    )


async def test_a_supervisor_reads_the_calls_of_their_departments_and_their_own_phone(
    db_dsn: str, tmp_path: Path
) -> None:
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
    client = await start_client(make_config(db_dsn, tmp_path))
    try:
        app = client.server.app
        pool = app[POOL]
        for name, endpoint in (("olga", "1001"), ("sveta", "1002"), ("oleg", "1003")):
            await pool.execute(
                "INSERT INTO agents (user_id, sip_endpoint, sip_secret) VALUES ($1, $2, 'x')",
                people[name],
                endpoint,
            )
        calls = {
            # An inbound call of sales, answered by Olga; one of support, by Oleg.
            "sales": call(1, "79161234567", "500", "1001"),
            "support": call(2, "79167654321", "500", "1003"),
            # Olga calls Oleg: no department.
            "internal": call(3, "1001", "1003", "1003"),
            # Sveta's own phone calls out: no department, her phone.
            "sveta_out": call(4, "1002", "84951112233", "84951112233"),
        }
        journal = CallJournal(pool)
        for record in calls.values():
            await journal.record(record)
        async with pool.acquire() as conn:
            for name, supervisor in (("sales", "sveta"), ("support", "sue")):
                department = (
                    await app[ROUTING].admin.create_department(
                        conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                    )
                ).department.id
                customer = await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
                interaction = await app[ROUTING].service.enqueue(
                    conn, NewInteraction("voice", customer, department)
                )
                # What the IVR's facts do for a call it queued.
                await conn.execute(
                    "UPDATE calls SET interaction_id = $2 WHERE call_id = $1",
                    calls[name].call_id,
                    interaction.id,
                )

        async def seen(username: str) -> set[str]:
            await login(client, username)
            listed = await client.get("/api/v1/calls")
            assert listed.status == 200
            ids = {c["call_id"] for c in (await listed.json())["calls"]}
            exported = await client.get("/api/v1/calls", params={"format": "csv"})
            assert exported.status == 200
            rows = csv.DictReader(io.StringIO(await exported.text()))
            assert {r["call_id"] for r in rows} == ids
            return {name for name, record in calls.items() if record.call_id in ids}

        assert await seen("sveta") == {"sales", "sveta_out"}
        assert await seen("sue") == {"support"}
        assert await seen("olga") == {"sales", "internal"}
        assert await seen("ada") == set(calls)
    finally:
        await client.close()
