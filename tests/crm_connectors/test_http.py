"""The customer API on the real app: look-up by any identity, timeline, notes, tags,
merge — each scoped like every API showing customers. An operator reaches the customers
of the interactions offered to or held by them; a supervisor those of their departments;
an admin all. Others' customers answer 404, exactly like missing ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from crm_connectors.keys import CUSTOMERS
from routing.keys import ROUTING
from routing.models import AgentProfile, NewInteraction
from routing.settings import DepartmentSettings
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, login
from tests.routing.app import start

PASSWORD = "correct-horse-1"


@dataclass
class Center:
    client: TestClient
    people: dict[str, int]
    sales: int
    support: int
    csrf: str = ""

    @property
    def app(self) -> web.Application:
        return self.client.server.app

    async def customer(self, kind: str, value: str) -> int:
        """A customer as a feature creates one: resolved from the identity it arrived with."""
        async with self.app[POOL].acquire() as conn:
            return (await self.app[CUSTOMERS].store.resolve_customer(conn, kind, value)).id

    async def offered(self, customer_id: int, department_id: int, agent: str = "olga") -> int:
        """An e-mail of the customer queued in the department and offered to ``agent``
        (the only agent available); returns the offer's id."""
        routing = self.app[ROUTING]
        async with self.app[POOL].acquire() as conn:
            interaction = await routing.service.enqueue(
                conn, NewInteraction("email", customer_id, department_id)
            )
            async with asyncio.timeout(10):
                while True:
                    offers = await routing.service.open_offers(conn, self.people[agent])
                    for offer in offers:
                        if offer.interaction_id == interaction.id:
                            return offer.id
                    await asyncio.sleep(0.05)

    async def served(self, customer_id: int, department_id: int, agent: str = "olga") -> int:
        """Offered to and accepted by ``agent``; returns the interaction's id."""
        offer_id = await self.offered(customer_id, department_id, agent)
        async with self.app[POOL].acquire() as conn:
            interaction = await self.app[ROUTING].service.accept(conn, offer_id, self.people[agent])
        return interaction.id

    async def completed(self, interaction_id: int, agent: str = "olga") -> None:
        async with self.app[POOL].acquire() as conn:
            await self.app[ROUTING].service.complete(conn, interaction_id, self.people[agent])

    async def as_(self, username: str) -> dict[str, str]:
        """Log the client in as ``username``; returns the headers of a state change."""
        return {"X-CSRF-Token": await login(self.client, username, PASSWORD)}

    async def status(self, path: str, method: str = "GET", body: object = None) -> int:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.client.request(method, path, json=body, headers=headers) as response:
            return response.status


@pytest.fixture(scope="module")
async def people(db_dsn: str) -> dict[str, int]:
    return {
        name: (await create_user(db_dsn, name, role, PASSWORD)).id
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
    """Sales (Sveta's) and support (Sue's); Olga and Oleg work both, Olga alone is
    available, so every interaction is offered to her."""
    client = await start(db_dsn, tmp_path)
    app = client.server.app
    routing = app[ROUTING]
    async with app[POOL].acquire() as conn:
        names = {d.name: d.id for d in await routing.admin.list_departments(conn)}
        departments = {}
        for name, supervisor in (("sales", "sveta"), ("support", "sue")):
            if name not in names:
                view = await routing.admin.create_department(
                    conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                )
                names[name] = view.department.id
            departments[name] = names[name]
    for name in ("olga", "oleg"):
        await app[PHONES].set_agent(people[name], f"{name}.desk", f"secret-{name}-x")
        async with app[POOL].acquire() as conn:
            await routing.admin.set_agent_profile(
                conn,
                people[name],
                AgentProfile(wrapup_s=0.0, departments=frozenset(departments.values())),
            )
            await routing.service.set_agent_status(
                conn, people[name], "available" if name == "olga" else "offline"
            )
    yield Center(client, people, departments["sales"], departments["support"])
    await client.close()


def reads(customer_id: int) -> list[str]:
    return [f"/api/v1/customers/{customer_id}", f"/api/v1/customers/{customer_id}/timeline"]


def writes(customer_id: int) -> list[tuple[str, str, object]]:
    email = {"kind": "email", "value": "a@b.io"}
    return [
        ("POST", f"/api/v1/customers/{customer_id}/notes", {"text": "x"}),
        ("POST", f"/api/v1/customers/{customer_id}/identities", email),
        ("PUT", f"/api/v1/customers/{customer_id}/tags", {"tags": ["x"]}),
    ]


async def test_an_operator_reaches_the_customer_while_offered_or_serving_and_not_after(
    center: Center,
) -> None:
    anna = await center.customer("phone", "+79123450001")
    center.csrf = (await center.as_("olga"))["X-CSRF-Token"]
    lookup = {"kind": "phone", "value": "+7 912 345 00 01"}
    assert (await center.client.get("/api/v1/customers", params=lookup)).status == 404
    for path in reads(anna):
        assert await center.status(path) == 404, path

    offer_id = await center.offered(anna, center.sales)
    found = await center.client.get("/api/v1/customers", params=lookup)
    assert found.status == 200
    assert (await found.json())["id"] == anna
    for path in reads(anna):
        assert await center.status(path) == 200, path
    async with center.app[POOL].acquire() as conn:
        interaction = await center.app[ROUTING].service.accept(
            conn, offer_id, center.people["olga"]
        )
    note = await center.client.post(
        f"/api/v1/customers/{anna}/notes",
        json={"text": "prefers e-mail"},
        headers={"X-CSRF-Token": center.csrf},
    )
    assert note.status == 201
    tagged = await center.client.put(
        f"/api/v1/customers/{anna}/tags",
        json={"tags": [" vip ", "wholesale", "vip"]},
        headers={"X-CSRF-Token": center.csrf},
    )
    assert tagged.status == 200
    assert (await tagged.json())["tags"] == ["vip", "wholesale"]
    timeline = await (await center.client.get(f"/api/v1/customers/{anna}/timeline")).json()
    assert ("note", "prefers e-mail", center.people["olga"]) in [
        (e["kind"], e["summary"], e["author_id"]) for e in timeline["entries"]
    ]

    center.csrf = (await center.as_("oleg"))["X-CSRF-Token"]
    assert (await center.client.get("/api/v1/customers", params=lookup)).status == 404
    for path in reads(anna):
        assert await center.status(path) == 404, path
    for method, path, body in writes(anna):
        assert await center.status(path, method, body) == 404, path

    await center.completed(interaction.id)
    center.csrf = (await center.as_("olga"))["X-CSRF-Token"]
    for path in reads(anna):
        assert await center.status(path) == 404, path


async def test_bad_input_is_refused_with_a_json_reason(center: Center) -> None:
    bella = await center.customer("phone", "+79123450009")
    served = await center.served(bella, center.sales)
    headers = await center.as_("olga")
    invalid = await center.client.get("/api/v1/customers", params={"kind": "phone", "value": "12"})
    assert invalid.status == 422
    cursor = await center.client.get(
        f"/api/v1/customers/{bella}/timeline", params={"before_id": "3"}
    )
    assert cursor.status == 422
    for tags in (["x" * 41], [""], ["t"] * 31, "vip"):
        refused = await center.client.put(
            f"/api/v1/customers/{bella}/tags", json={"tags": tags}, headers=headers
        )
        assert refused.status == 422, tags
        assert "error" in await refused.json()
    await center.completed(served)


async def test_a_supervisor_sees_their_departments_customers_an_admin_all(
    center: Center,
) -> None:
    in_sales = await center.customer("phone", "+79123450002")
    in_support = await center.customer("phone", "+79123450003")
    nowhere = await center.customer("phone", "+79123450004")
    for customer_id, department in ((in_sales, center.sales), (in_support, center.support)):
        await center.completed(await center.served(customer_id, department))
    center.csrf = (await center.as_("sveta"))["X-CSRF-Token"]
    for path in reads(in_sales):
        assert await center.status(path) == 200, path
    for path in reads(in_support) + reads(nowhere):
        assert await center.status(path) == 404, path
    found = await center.client.get(
        "/api/v1/customers", params={"kind": "phone", "value": "+79123450003"}
    )
    assert found.status == 404
    center.csrf = (await center.as_("ada"))["X-CSRF-Token"]
    for customer_id in (in_sales, in_support, nowhere):
        for path in reads(customer_id):
            assert await center.status(path) == 200, path


async def test_an_identity_of_a_customer_one_may_not_see_is_a_conflict_without_its_id(
    center: Center,
) -> None:
    hidden = await center.customer("phone", "+79123450005")
    mine = await center.customer("webchat", "visitor-http")
    served = await center.served(mine, center.sales)
    body = {"kind": "phone", "value": "+79123450005"}
    headers = await center.as_("olga")
    taken = await center.client.post(
        f"/api/v1/customers/{mine}/identities", json=body, headers=headers
    )
    assert taken.status == 409
    answer = await taken.json()
    assert "customer_id" not in answer
    assert str(hidden) not in answer["error"]
    headers = await center.as_("ada")
    taken = await center.client.post(
        f"/api/v1/customers/{mine}/identities", json=body, headers=headers
    )
    assert taken.status == 409
    assert (await taken.json())["customer_id"] == hidden
    await center.completed(served)


async def test_a_supervisor_merges_two_customers_of_their_department_with_their_tags(
    center: Center,
) -> None:
    phone = await center.customer("phone", "+79123450006")
    chat = await center.customer("webchat", "visitor-merge")
    other = await center.customer("phone", "+79123450007")
    for customer_id, department in ((phone, center.sales), (chat, center.sales)):
        await center.completed(await center.served(customer_id, department))
    await center.completed(await center.served(other, center.support))
    async with center.app[POOL].acquire() as conn:
        await center.app[CUSTOMERS].store.set_tags(conn, chat, ["vip"])
    headers = await center.as_("olga")
    refused = await center.client.post(
        f"/api/v1/customers/{phone}/merge", json={"other_id": chat}, headers=headers
    )
    assert refused.status == 403
    headers = await center.as_("sveta")
    # Sue's customer is no customer to Sveta: neither side of a merge.
    for kept, merged in ((phone, other), (other, phone)):
        refused = await center.client.post(
            f"/api/v1/customers/{kept}/merge", json={"other_id": merged}, headers=headers
        )
        assert refused.status == 404
    merged = await center.client.post(
        f"/api/v1/customers/{phone}/merge", json={"other_id": chat}, headers=headers
    )
    assert merged.status == 200
    body = await merged.json()
    assert {i["kind"] for i in body["identities"]} == {"phone", "webchat"}
    assert body["tags"] == ["vip"]
    assert (await (await center.client.get(f"/api/v1/customers/{chat}")).json())["id"] == phone
