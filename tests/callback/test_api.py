"""The public callback API against a real PostgreSQL: who may post, what is refused and
why (as JSON a widget can show), the abuse limits, scheduling after hours, and a status
that tells nothing about other requests. No agent is available here, so nothing rings;
the real calls are in test_callback_calls.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from routing.keys import ROUTING
from routing.settings import DepartmentSettings
from server.keys import POOL
from tests.app_helpers import make_config, start_client

from .lab import ShiftedClock

ORIGIN = "http://shop.test"
BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {"timezone": "Europe/Berlin", "weekly": {d: ["09:00-18:00"] for d in ("mon", "tue")}}
# A Monday at noon and the Saturday after, in Berlin.
OPEN = datetime(2026, 11, 23, 12, 0, tzinfo=BERLIN)
CLOSED = datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN)


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
async def client(
    tmp_path_factory: pytest.TempPathFactory, db_dsn: str, clock: ShiftedClock
) -> AsyncIterator[TestClient]:
    site = {"origins": [ORIGIN], "countries": ["DE"], "department_id": 1}
    config = make_config(db_dsn, tmp_path_factory.mktemp("api")).replace(
        callback={
            "sites": [
                {"key": "shop", **site, "priority": 5},
                {"key": "hours", **site, "schedule": HOURS},
            ],
            "ip_limit": 12,
            "number_limit": 2,
            "client_ip_header": "X-Forwarded-For",
        }
    )
    client = await start_client(config, clock)
    async with client.app[POOL].acquire() as conn:
        view = await client.app[ROUTING].admin.create_department(
            conn, "Sales", DepartmentSettings()
        )
    assert view.department.id == 1
    yield client
    await client.close()


async def post(
    client: TestClient,
    body: object,
    *,
    site: str = "shop",
    origin: str | None = ORIGIN,
    ip: str = "198.51.100.1",
) -> tuple[int, dict]:
    headers = {"X-Forwarded-For": f"{ip}, 10.0.0.1"}
    if origin is not None:
        headers["Origin"] = origin
    response = await client.post(f"/api/v1/callbacks?site={site}", json=body, headers=headers)
    return response.status, await response.json()


@pytest.fixture(autouse=True)
def opening_hours(clock: ShiftedClock) -> None:
    clock.jump_to(OPEN)


async def test_a_request_is_queued_with_the_site_priority_and_the_visitor_words(
    client: TestClient,
) -> None:
    status, body = await post(
        client,
        {"phone": "+49 30 901830", "name": "Ada", "page": "http://shop.test/p", "comment": "hi"},
    )
    assert status == 201, body
    assert body["status"] == "queued"
    assert set(body) == {
        "id", "status", "attempts", "scheduled_for", "position", "estimated_wait_s", "outcome",
        "cancel_key",
    }  # fmt: skip
    async with client.app[POOL].acquire() as conn:
        row = await conn.fetchrow(
            """SELECT i.priority, i.external_refs, i.channel FROM callback_requests r
               JOIN interactions i ON i.id = r.interaction_id WHERE r.id = $1::uuid""",
            body["id"],
        )
    assert row["channel"] == "callback" and row["priority"] == 5
    refs = row["external_refs"]
    for part in ('"phone": "+4930901830"', '"name": "Ada"', '"comment": "hi"', "shop.test/p"):
        assert part in refs
    seen = await (await client.get(f"/api/v1/callbacks/{body['id']}")).json()
    assert seen["id"] == body["id"] and seen["position"] == 1


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"phone": "+49 900 1234567"}, 422, "landline and mobile"),
        ({"phone": "+7 916 123-45-67"}, 422, "this country"),
        ({"phone": "110"}, 422, "does not exist"),
        ({"phone": "+49 30 901831", "website": "http://spam"}, 422, "request refused"),
        ({"phone": "+49 30 901832", "preferred_at": "2026-11-24T10:00:00"}, 422, "invalid"),
        ({"phone": "+49 30 901833", "extra": 1}, 422, "invalid"),
        ({"name": "no phone"}, 422, "invalid"),
        ([], 422, "invalid"),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    client: TestClient, body: object, status: int, reason: str
) -> None:
    got, answer = await post(client, body, ip="198.51.100.2")
    assert got == status, answer
    assert reason in answer["error"]


async def test_only_the_sites_origins_may_post_and_they_get_cors_answers(
    client: TestClient,
) -> None:
    assert (await post(client, {"phone": "+4930901834"}, origin="http://evil.test"))[0] == 403
    assert (await post(client, {"phone": "+4930901834"}, origin=None))[0] == 403
    assert (await post(client, {"phone": "+4930901834"}, site="nope"))[0] == 404
    preflight = await client.options(
        "/api/v1/callbacks?site=shop",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused = await client.post(
        "/api/v1/callbacks?site=shop", json={"phone": "1"}, headers={"Origin": ORIGIN}
    )
    # A refusal the widget can read: JSON, with the CORS header.
    assert refused.status == 422
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    bad_json = await client.post(
        "/api/v1/callbacks?site=shop",
        data=b"{",
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert bad_json.status == 400 and "error" in await bad_json.json()


async def test_a_number_is_limited_and_so_is_an_address(client: TestClient) -> None:
    # number_limit = 2 requests per number per window; a pending one is returned.
    status, first = await post(client, {"phone": "+4930901835"}, ip="198.51.100.3")
    assert status == 201
    again = await post(client, {"phone": "+4930901835"}, ip="198.51.100.3")
    # The pending request, without the key that cancels it (only its creator has that).
    assert "cancel_key" not in again[1]
    assert again == (200, {k: v for k, v in first.items() if k != "cancel_key"})
    await _end(client, first["id"])
    assert (await post(client, {"phone": "+4930901835"}, ip="198.51.100.3"))[0] == 201
    async with client.app[POOL].acquire() as conn:
        second = await conn.fetchval(
            "SELECT id::text FROM callback_requests WHERE phone = '+4930901835' "
            "AND status = 'queued'"
        )
    await _end(client, second)
    status, body = await post(client, {"phone": "+4930901835"}, ip="198.51.100.3")
    assert status == 429 and "recently" in body["error"]
    # ip_limit = 12 POSTs per address per window, refused ones included.
    codes = [(await post(client, {"phone": "1"}, ip="198.51.100.4"))[0] for _ in range(13)]
    assert codes == [422] * 12 + [429]
    assert (await post(client, {"phone": "1"}, ip="198.51.100.5"))[0] == 422


async def test_after_hours_a_request_is_scheduled_for_the_next_opening_then_queued(
    client: TestClient, clock: ShiftedClock
) -> None:
    clock.jump_to(CLOSED)
    status, body = await post(client, {"phone": "+4930901836"}, site="hours")
    assert status == 201, body
    assert body["status"] == "scheduled"
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    assert datetime.fromisoformat(body["scheduled_for"]) == monday
    # A chosen slot inside the hours is kept; one outside moves to the next opening.
    slot = datetime(2026, 12, 1, 10, 30, tzinfo=BERLIN)
    status, chosen = await post(
        client, {"phone": "+4930901837", "preferred_at": slot.isoformat()}, site="hours"
    )
    assert datetime.fromisoformat(chosen["scheduled_for"]) == slot
    clock.jump_to(monday.replace(second=1))

    async def queued() -> bool:
        response = await client.get(f"/api/v1/callbacks/{body['id']}")
        return (await response.json())["status"] == "queued"

    async with asyncio.timeout(10):
        while True:
            if await queued():
                break
            await asyncio.sleep(0.1)
    later = await (await client.get(f"/api/v1/callbacks/{chosen['id']}")).json()
    assert later["status"] == "scheduled"


async def test_a_status_is_only_found_by_its_random_id(client: TestClient) -> None:
    status, body = await post(client, {"phone": "+4930901838"})
    assert status == 201
    response = await client.get(f"/api/v1/callbacks/{body['id']}")
    assert "phone" not in await response.json()
    assert (await client.get("/api/v1/callbacks/1")).status == 404
    assert (await client.get(f"/api/v1/callbacks/{uuid.uuid4()}")).status == 404


async def _end(client: TestClient, request_id: str) -> None:
    async with client.app[POOL].acquire() as conn:
        interaction_id = await conn.fetchval(
            "SELECT interaction_id FROM callback_requests WHERE id = $1::uuid", request_id
        )
        await client.app[ROUTING].service.abandon(conn, interaction_id, "test")
        await conn.execute(
            "UPDATE callback_requests SET status = 'cancelled', ended_at = now() "
            "WHERE id = $1::uuid",
            request_id,
        )


async def test_a_request_ends_with_its_interaction_when_routing_ends_that(
    client: TestClient,
) -> None:
    status, body = await post(client, {"phone": "+4930901839"}, ip="198.51.100.9")
    assert status == 201
    async with client.app[POOL].acquire() as conn:
        interaction_id = await conn.fetchval(
            "SELECT interaction_id FROM callback_requests WHERE id = $1::uuid", body["id"]
        )
        await client.app[ROUTING].service.abandon(conn, interaction_id, "closed by supervisor")
    async with asyncio.timeout(10):
        while True:
            seen = await (await client.get(f"/api/v1/callbacks/{body['id']}")).json()
            if seen["status"] != "queued":
                break
            await asyncio.sleep(0.05)
    assert (seen["status"], seen["outcome"]) == ("cancelled", "closed by supervisor")


async def test_knowing_a_number_does_not_let_anyone_cancel_its_callback(
    client: TestClient,
) -> None:
    """A second POST of a pending number returns that request's id; cancelling it takes
    the key only the first POST answered with."""
    status, mine = await post(client, {"phone": "+4930901846"}, ip="198.51.100.6")
    assert status == 201 and len(mine["cancel_key"]) >= 32
    status, theirs = await post(client, {"phone": "+4930901846"}, ip="198.51.100.7")
    assert status == 200 and theirs["id"] == mine["id"] and "cancel_key" not in theirs
    url = f"/api/v1/callbacks/{mine['id']}?site=shop"
    for key in (None, "", "wrong-key-" + "x" * 30, mine["cancel_key"][:-1]):
        headers = {"Origin": ORIGIN}
        if key is not None:
            headers["X-Callback-Key"] = key
        refused = await client.delete(url, headers=headers)
        assert refused.status == 403, key
        assert "only the page" in (await refused.json())["error"]
        assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    still = await client.get(f"/api/v1/callbacks/{mine['id']}")
    assert (await still.json())["status"] == "queued"
    preflight = await client.options(
        url,
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )
    assert "X-Callback-Key" in preflight.headers["Access-Control-Allow-Headers"]
    cancelled = await client.delete(
        url, headers={"Origin": ORIGIN, "X-Callback-Key": mine["cancel_key"]}
    )
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
