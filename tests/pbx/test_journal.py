"""The call journal on a real PostgreSQL, and GET /api/v1/calls on the real app."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from pbx.events import CallEnded, CallRecord, Party, Transfer
from pbx.journal import CallJournal, classify_direction, endpoint_of
from server.bus import EventBus
from tests.app_helpers import create_user, login, make_config, start_client

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def make_record(
    n: int,
    caller: str,
    destination: str,
    answered: str | None,
    disposition: str = "answered",
    caller_channel: str | None = None,
) -> CallRecord:
    start = T0 + timedelta(minutes=n)
    caller_channel = caller_channel or f"PJSIP/{caller}-{n:08x}"
    channels = [caller_channel]
    answered_by = None
    if answered is not None:
        answered_by = Party(answered, f"Agent {answered}", f"PJSIP/{answered}-{n + 100:08x}")
        channels.append(answered_by.channel)
    return CallRecord(
        call_id=f"1700000000.{n}",
        caller=Party(caller, "Иван Петров", caller_channel),
        destination=destination,
        answered_by=answered_by,
        disposition=disposition,  # type: ignore[arg-type]
        hangup_by="caller",
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        started_at=start,
        answered_at=start + timedelta(seconds=5) if answered else None,
        ended_at=start + timedelta(seconds=65),
        transfers=(Transfer("blind", channels[-1], "1003", start + timedelta(seconds=30)),)
        if n == 3
        else (),
        channels=tuple(channels),
        rang=(answered_by,) if answered_by else (),
    )


@pytest.fixture(scope="module")
async def journal_users(db_dsn: str, db_pool: asyncpg.Pool) -> dict[str, int]:
    ids = {}
    for name, role in [
        ("oleg", "operator"),
        ("nina", "operator"),
        ("sveta", "supervisor"),
        ("ada", "admin"),
    ]:
        ids[name] = (await create_user(db_dsn, name, role)).id
    for name, endpoint in [("oleg", "1001"), ("sveta", "1002")]:
        await db_pool.execute(
            "INSERT INTO agents (user_id, sip_endpoint, sip_secret) VALUES ($1, $2, 'x')",
            ids[name],
            endpoint,
        )
    return ids


@pytest.fixture(scope="module")
async def stored(db_pool: asyncpg.Pool, journal_users: dict[str, int]) -> list[CallRecord]:
    journal = CallJournal(db_pool)
    records = [
        make_record(1, "79161234567", "500", "1001"),
        make_record(2, "79161234567", "500", None, "cancelled"),
        make_record(3, "1001", "1002", "1002"),
        make_record(4, "1002", "84951112233", "84951112233"),
        make_record(5, "74950000000", "500", "1002", caller_channel="SIP/trunk-00000005"),
    ]
    bus = EventBus()
    journal.subscribe(bus.subscribe)
    for record in records:
        bus.publish(CallEnded(record.call_id, record))
    await bus.close()
    # The same call again (a replayed event) is stored once.
    assert await journal.record(records[0]) is None
    return records


@pytest.fixture
async def client(
    db_dsn: str, tmp_path: Path, stored: list[CallRecord]
) -> AsyncIterator[TestClient]:
    client = await start_client(make_config(db_dsn, tmp_path))
    yield client
    await client.close()


def test_endpoint_of_any_technology() -> None:
    assert endpoint_of("PJSIP/1001-0000002a") == "1001"
    assert endpoint_of("SIP/trunk-provider-00000001") == "trunk-provider"
    assert endpoint_of("IAX2/branch-1234") == "branch"
    assert endpoint_of("Local/1001@agents-00000001;1") is None
    assert endpoint_of("garbage") is None


def test_direction() -> None:
    internal = {"1001", "1002"}
    assert classify_direction(make_record(1, "79161234567", "500", None), internal) == "inbound"
    assert classify_direction(make_record(1, "1001", "1002", None), internal) == "internal"
    assert classify_direction(make_record(1, "1001", "8495", None), internal) == "outbound"


async def test_rows_hold_every_field(db_pool: asyncpg.Pool, stored: list[CallRecord]) -> None:
    row = await db_pool.fetchrow("SELECT * FROM calls WHERE call_id = '1700000000.3'")
    assert row["direction"] == "internal"
    assert row["caller_name"] == "Иван Петров"
    assert row["answered_by_number"] == "1002"
    assert row["ring_seconds"] == 5 and row["talk_seconds"] == 60
    assert row["endpoints"] == ["1001", "1002"]
    assert row["disposition"] == "answered" and row["hangup_by"] == "caller"
    assert row["outcome"] is None and row["recording_id"] is None
    assert '"kind": "blind"' in row["transfers"]
    assert await db_pool.fetchval("SELECT count(*) FROM calls") == 5


async def test_an_admin_sees_all_calls_newest_first(client: TestClient) -> None:
    await login(client, "ada")
    body = await (await client.get("/api/v1/calls")).json()
    assert [c["call_id"] for c in body["calls"]] == [f"1700000000.{n}" for n in (5, 4, 3, 2, 1)]
    assert body["next_cursor"] is None


async def test_operator_sees_only_calls_of_their_phone(client: TestClient) -> None:
    await login(client, "oleg")  # endpoint 1001
    body = await (await client.get("/api/v1/calls")).json()
    assert [c["call_id"] for c in body["calls"]] == ["1700000000.3", "1700000000.1"]


async def test_operator_without_phone_sees_nothing(client: TestClient) -> None:
    await login(client, "nina")
    body = await (await client.get("/api/v1/calls")).json()
    assert body["calls"] == []


async def test_anonymous_is_refused(client: TestClient) -> None:
    assert (await client.get("/api/v1/calls")).status == 401


async def test_filters(client: TestClient) -> None:
    await login(client, "ada")

    async def ids(query: str) -> list[str]:
        response = await client.get("/api/v1/calls?" + query)
        assert response.status == 200, await response.text()
        return [c["call_id"][-1] for c in (await response.json())["calls"]]

    assert await ids("number=79161234567") == ["2", "1"]
    assert await ids("number=1002") == ["5", "4", "3"]
    assert await ids("agent=1002") == ["5", "4", "3"]
    assert await ids("disposition=cancelled") == ["2"]
    assert await ids("outcome=served") == []
    frm = (T0 + timedelta(minutes=2)).isoformat().replace("+", "%2B")
    to = (T0 + timedelta(minutes=4)).isoformat().replace("+", "%2B")
    assert await ids(f"from={frm}&to={to}") == ["3", "2"]
    assert (await client.get("/api/v1/calls?disposition=lost")).status == 422
    assert (await client.get("/api/v1/calls?from=yesterday")).status == 422
    assert (await client.get("/api/v1/calls?cursor=bm9wZQ")).status == 422


async def test_cursor_pagination_walks_every_call_once(client: TestClient) -> None:
    await login(client, "ada")
    seen: list[str] = []
    url = "/api/v1/calls?limit=2"
    while True:
        body = await (await client.get(url)).json()
        seen += [c["call_id"] for c in body["calls"]]
        if body["next_cursor"] is None:
            break
        url = f"/api/v1/calls?limit=2&cursor={body['next_cursor']}"
    assert seen == [f"1700000000.{n}" for n in (5, 4, 3, 2, 1)]


async def test_csv_export(client: TestClient) -> None:
    await login(client, "oleg")
    response = await client.get("/api/v1/calls?format=csv")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["call_id"] for r in rows] == ["1700000000.3", "1700000000.1"]
    assert rows[1]["caller_name"] == "Иван Петров"
    assert rows[1]["direction"] == "inbound"
