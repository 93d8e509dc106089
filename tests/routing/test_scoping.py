"""The routing API scoped by the one rule (crm_connectors.access): an operator reads the
interactions offered to or held by them and no others (not those they finished); a
supervisor reads and acts on their departments' interactions, agents and settings only,
the others answering 404 like missing ones; an admin everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from routing.keys import ROUTING
from routing.models import AgentProfile, NewInteraction
from routing.settings import DepartmentSettings
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, login
from tests.routing.app import start


@dataclass
class Center:
    """Sales (Sveta's, Olga works there) and support (Sue's, Oleg works there)."""

    client: TestClient
    people: dict[str, int]
    sales: int
    support: int
    csrf: str = ""

    async def as_(self, username: str) -> None:
        self.csrf = await login(self.client, username)

    async def status(self, path: str, method: str = "GET") -> int:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.client.request(method, path, json={}, headers=headers) as response:
            return response.status

    async def held(self, department_id: int, channel: str = "email") -> int:
        """An interaction of the department, offered to and accepted by its agent."""
        app = self.client.server.app
        routing = app[ROUTING]
        agent = self.people["olga" if department_id == self.sales else "oleg"]
        async with app[POOL].acquire() as conn:
            customer = await conn.fetchval("INSERT INTO customers DEFAULT VALUES RETURNING id")
            interaction = await routing.service.enqueue(
                conn, NewInteraction(channel, customer, department_id)
            )
            for _ in range(200):
                offers = [
                    o
                    for o in await routing.service.open_offers(conn, agent)
                    if o.interaction_id == interaction.id
                ]
                if offers:
                    break
                await asyncio.sleep(0.05)
            assert offers, "the router made no offer"
            await routing.service.accept(conn, offers[0].id, agent)
        return interaction.id


@pytest.fixture(scope="module")
async def people(db_dsn: str) -> dict[str, int]:
    return {
        name: (await create_user(db_dsn, name, role)).id
        for name, role in [
            ("olga", "operator"),
            ("oleg", "operator"),
            ("sveta", "supervisor"),
            ("sue", "supervisor"),
            ("ada", "admin"),
        ]
    }


@pytest.fixture
async def center(db_dsn: str, people: dict[str, int], tmp_path: Path) -> AsyncIterator[Center]:
    client = await start(db_dsn, tmp_path)
    app = client.server.app
    routing = app[ROUTING]
    async with app[POOL].acquire() as conn:
        existing = {d.name: d.id for d in await routing.admin.list_departments(conn)}
        ids = {}
        for name, supervisor in (("sales", "sveta"), ("support", "sue")):
            if name not in existing:
                view = await routing.admin.create_department(
                    conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                )
                existing[name] = view.department.id
            ids[name] = existing[name]
    for name, department in (("olga", ids["sales"]), ("oleg", ids["support"])):
        await app[PHONES].set_agent(people[name], f"{name}.desk", f"secret-{name}-x")
        async with app[POOL].acquire() as conn:
            await routing.admin.set_agent_profile(
                conn,
                people[name],
                AgentProfile(
                    capacity=1000,
                    channel_costs={"voice": 10, "email": 10},
                    wrapup_s=600.0,
                    departments=frozenset({department}),
                ),
            )
            await routing.service.set_agent_status(conn, people[name], "available")
    yield Center(client, people, ids["sales"], ids["support"])
    await client.close()


async def test_an_operator_reads_an_interaction_while_serving_it_and_not_after(
    center: Center,
) -> None:
    interaction = await center.held(center.sales)
    path = f"/api/v1/routing/interactions/{interaction}"
    await center.as_("oleg")
    assert await center.status(path) == 404
    assert await center.status(f"{path}/complete", "POST") == 404
    await center.as_("olga")
    assert await center.status(path) == 200
    assert await center.status(f"{path}/complete", "POST") == 200
    assert await center.status(path) == 404


async def test_a_supervisor_of_another_department_neither_reads_nor_completes_it(
    center: Center,
) -> None:
    email = await center.held(center.sales)
    call = await center.held(center.sales, "voice")
    await center.as_("olga")
    assert await center.status(f"/api/v1/routing/interactions/{call}/complete", "POST") == 200
    await center.as_("sue")
    for interaction in (email, call):
        assert await center.status(f"/api/v1/routing/interactions/{interaction}") == 404
    assert await center.status(f"/api/v1/routing/interactions/{email}/complete", "POST") == 404
    assert await center.status(f"/api/v1/routing/interactions/{call}/wrapup/finish", "POST") == 404
    await center.as_("sveta")
    assert await center.status(f"/api/v1/routing/interactions/{email}") == 200
    assert await center.status(f"/api/v1/routing/interactions/{email}/complete", "POST") == 200
    assert await center.status(f"/api/v1/routing/interactions/{call}/wrapup/finish", "POST") == 200


async def test_a_supervisor_reads_their_departments_agents_and_settings_only(
    center: Center,
) -> None:
    olga, oleg = center.people["olga"], center.people["oleg"]
    await center.as_("sveta")
    assert await center.status(f"/api/v1/routing/agents/{olga}") == 200
    assert await center.status(f"/api/v1/routing/agents/{oleg}") == 404
    assert await center.status(f"/api/v1/routing/departments/{center.sales}") == 200
    assert await center.status(f"/api/v1/routing/departments/{center.support}") == 404
    listed = await (await center.client.get("/api/v1/routing/departments")).json()
    assert [d["id"] for d in listed] == [center.sales]
    await center.as_("ada")
    for agent in (olga, oleg):
        assert await center.status(f"/api/v1/routing/agents/{agent}") == 200
    for department in (center.sales, center.support):
        assert await center.status(f"/api/v1/routing/departments/{department}") == 200
    listed = await (await center.client.get("/api/v1/routing/departments")).json()
    assert {center.sales, center.support} <= {d["id"] for d in listed}
