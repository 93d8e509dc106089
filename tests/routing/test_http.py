"""The routing API on the real app and a real PostgreSQL, as each role sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from routing.keys import ROUTING
from routing.models import NewInteraction
from server.auth.access import access_of
from server.keys import POOL
from tests.app_helpers import create_user, login
from tests.routing.app import build_app, start

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
async def people(db_dsn: str) -> dict[str, int]:
    ids = {}
    for name, role in [
        ("olga", "operator"),
        ("oleg", "operator"),
        ("sveta", "supervisor"),
        ("stas", "supervisor"),
        ("ada", "admin"),
    ]:
        ids[name] = (await create_user(db_dsn, name, role)).id
    return ids


@pytest.fixture
async def client(db_dsn: str, people: dict[str, int], tmp_path: Path) -> AsyncIterator[TestClient]:
    client = await start(db_dsn, tmp_path)
    yield client
    await client.close()


class Session:
    """A logged-in user's requests, with the CSRF header on the ones that change state.
    The client keeps one session cookie: the last user logged in is the one acting."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.headers = {"X-CSRF-Token": csrf}

    async def get(self, path: str, **kw):
        return await self.client.get(path, **kw)

    async def send(self, method: str, path: str, body: dict | None = None):
        return await self.client.request(method, path, json=body or {}, headers=self.headers)


async def as_user(client: TestClient, name: str) -> Session:
    return Session(client, await login(client, name, PASSWORD))


async def make_agents(client: TestClient, people: dict[str, int]) -> int:
    """The sales department, supervised by sveta, with olga and oleg in it."""
    admin = await as_user(client, "ada")
    created = await admin.send(
        "POST",
        "/api/v1/routing/departments",
        {
            "name": "sales",
            "settings": {"strategy": "round_robin"},
            "supervisor_ids": [people["sveta"]],
        },
    )
    if created.status == 409:
        listed = await (await admin.get("/api/v1/routing/departments")).json()
        department = next(d["id"] for d in listed if d["name"] == "sales")
    else:
        assert created.status == 201, await created.text()
        department = (await created.json())["id"]
    for name in ("olga", "oleg"):
        put = await admin.send(
            "PUT",
            f"/api/v1/users/{people[name]}/agent",
            {"sip_endpoint": f"ep-{name}", "sip_secret": "secret-secret"},
        )
        assert put.status == 200, await put.text()
        profile = await admin.send(
            "PUT",
            f"/api/v1/routing/agents/{people[name]}/profile",
            {"capacity": 100, "departments": [department], "wrapup_s": 0},
        )
        assert profile.status == 200, await profile.text()
    return department


async def test_operators_set_their_own_status_and_supervisors_their_departments_agents(
    client: TestClient, people: dict[str, int]
) -> None:
    await make_agents(client, people)
    olga = await as_user(client, "olga")
    own = await olga.send(
        "PUT", f"/api/v1/routing/agents/{people['olga']}/status", {"status": "available"}
    )
    assert own.status == 200
    assert (await own.json())["status"] == "available"
    other = await olga.send(
        "PUT", f"/api/v1/routing/agents/{people['oleg']}/status", {"status": "available"}
    )
    assert other.status == 403
    sveta = await as_user(client, "sveta")
    paused = await sveta.send(
        "PUT",
        f"/api/v1/routing/agents/{people['oleg']}/status",
        {"status": "paused", "reason": "training"},
    )
    assert paused.status == 200
    assert (await paused.json())["pause_reason"] == "training"
    stas = await as_user(client, "stas")
    refused = await stas.send(
        "PUT", f"/api/v1/routing/agents/{people['oleg']}/status", {"status": "away"}
    )
    assert refused.status == 403
    sveta = await as_user(client, "sveta")
    unreasoned = await sveta.send(
        "PUT", f"/api/v1/routing/agents/{people['oleg']}/status", {"status": "paused"}
    )
    assert unreasoned.status == 422


async def test_an_operator_takes_an_offer_and_completes_it_through_the_api(
    client: TestClient, people: dict[str, int]
) -> None:
    department = await make_agents(client, people)
    olga = await as_user(client, "olga")
    await olga.send(
        "PUT", f"/api/v1/routing/agents/{people['olga']}/status", {"status": "available"}
    )
    app = client.server.app
    runtime = app[ROUTING]
    async with app[POOL].acquire() as conn:
        customer = await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
        interaction = await runtime.service.enqueue(
            conn, NewInteraction("webchat", customer, department)
        )
    offers: list = []
    for _ in range(100):
        me = await (await olga.get("/api/v1/routing/me")).json()
        offers = [o for o in me["offers"] if o["interaction_id"] == interaction.id]
        if offers:
            break
        await asyncio.sleep(0.05)
    assert offers, "the router in the app made no offer"
    oleg = await as_user(client, "oleg")
    stolen = await oleg.send("POST", f"/api/v1/routing/offers/{offers[0]['id']}/accept")
    assert stolen.status == 403
    olga = await as_user(client, "olga")
    accepted = await olga.send("POST", f"/api/v1/routing/offers/{offers[0]['id']}/accept")
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["state"] == "accepted"
    again = await olga.send("POST", f"/api/v1/routing/offers/{offers[0]['id']}/accept")
    assert again.status == 409
    done = await olga.send("POST", f"/api/v1/routing/interactions/{interaction.id}/complete")
    assert (await done.json())["state"] == "completed"
    # Offered or serving, not finished: a completed interaction is gone for its operator.
    assert (await olga.get(f"/api/v1/routing/interactions/{interaction.id}")).status == 404
    me = await (await olga.get("/api/v1/routing/me")).json()
    assert (me["load"], me["offers"], me["holding"]) == (0, [], [])


async def test_department_settings_errors_name_the_field_and_only_admins_change_them(
    client: TestClient, people: dict[str, int]
) -> None:
    department = await make_agents(client, people)
    sveta = await as_user(client, "sveta")
    assert (
        await sveta.send("PATCH", f"/api/v1/routing/departments/{department}", {"settings": {}})
    ).status == 403
    admin = await as_user(client, "ada")
    bad = await admin.send(
        "PATCH",
        f"/api/v1/routing/departments/{department}",
        {"settings": {"channel_costs": {"voice": 0}, "mode": "broadcast"}},
    )
    assert bad.status == 422
    fields = {d["field"] for d in (await bad.json())["details"]}
    assert {"settings.channel_costs", "settings.mode"} <= fields
    unknown = await admin.send(
        "PATCH",
        f"/api/v1/routing/departments/{department}",
        {"settings": {"max_wait_s": 30, "overflow_target": "department:999999"}},
    )
    assert unknown.status == 422
    good = await admin.send(
        "PATCH",
        f"/api/v1/routing/departments/{department}",
        {"settings": {"channel_costs": {"voice": 100}, "sticky_s": 30}},
    )
    assert good.status == 200
    body = await good.json()
    assert body["settings"]["channel_costs"] == {"voice": 100}
    assert body["settings"]["strategy"] == "round_robin", "unmentioned settings are kept"
    assert body["supervisor_ids"] == [people["sveta"]]


async def test_a_supervisor_sees_the_queue_of_their_departments_only(
    client: TestClient, people: dict[str, int]
) -> None:
    department = await make_agents(client, people)
    sveta = await as_user(client, "sveta")
    board = await (await sveta.get("/api/v1/routing/queue")).json()
    assert {a["username"] for a in board["agents"]} == {"olga", "oleg"}
    stas = await as_user(client, "stas")
    assert (await (await stas.get("/api/v1/routing/queue")).json()) == {"queues": [], "agents": []}
    olga = await as_user(client, "olga")
    assert (await olga.get("/api/v1/routing/queue")).status == 403
    assert (await olga.get(f"/api/v1/routing/departments/{department}")).status == 403


def test_every_routing_and_customer_route_declares_who_may_call_it(
    tmp_path: Path, db_dsn: str
) -> None:
    app = build_app(db_dsn, tmp_path)
    mine = [
        r
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith(("/api/v1/routing", "/api/v1/customers"))
    ]
    assert len(mine) >= 20
    assert all(access_of(r.handler) in ("operator", "supervisor", "admin") for r in mine)
