"""The customer API on the real app: look-up by any identity, timeline, notes, merge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from crm_connectors.keys import CUSTOMERS
from server.keys import POOL
from tests.app_helpers import create_user, login
from tests.routing.app import start

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
async def people(db_dsn: str) -> dict[str, int]:
    return {
        name: (await create_user(db_dsn, name, role)).id
        for name, role in [("olga", "operator"), ("sveta", "supervisor")]
    }


@pytest.fixture
async def client(db_dsn: str, people: dict, tmp_path: Path) -> AsyncIterator[TestClient]:
    client = await start(db_dsn, tmp_path)
    yield client
    await client.close()


async def customer(client: TestClient, kind: str, value: str) -> int:
    """A customer as a feature creates one: resolved from the identity it arrived with."""
    app = client.server.app
    async with app[POOL].acquire() as conn:
        return (await app[CUSTOMERS].store.resolve_customer(conn, kind, value)).id


async def test_an_operator_finds_a_customer_by_any_identity_and_writes_a_note(
    client: TestClient, people: dict
) -> None:
    anna = await customer(client, "phone", "+79123450001")
    csrf = await login(client, "olga", PASSWORD)
    missing = await client.get("/api/v1/customers", params={"kind": "email", "value": "x@y.org"})
    assert missing.status == 404
    found = await client.get(
        "/api/v1/customers", params={"kind": "phone", "value": "+7 912 345 00 01"}
    )
    assert found.status == 200
    assert (await found.json())["id"] == anna
    invalid = await client.get("/api/v1/customers", params={"kind": "phone", "value": "12"})
    assert invalid.status == 422
    note = await client.post(
        f"/api/v1/customers/{anna}/notes",
        json={"text": "prefers e-mail"},
        headers={"X-CSRF-Token": csrf},
    )
    assert note.status == 201
    timeline = await (await client.get(f"/api/v1/customers/{anna}/timeline")).json()
    assert [(e["kind"], e["summary"], e["author_id"]) for e in timeline["entries"]] == [
        ("note", "prefers e-mail", people["olga"])
    ]
    bad_cursor = await client.get(f"/api/v1/customers/{anna}/timeline", params={"before_id": "3"})
    assert bad_cursor.status == 422


async def test_an_identity_of_another_customer_is_a_conflict_that_a_supervisor_merges(
    client: TestClient, people: dict
) -> None:
    phone = await customer(client, "phone", "+79123450002")
    chat = await customer(client, "webchat", "visitor-http")
    csrf = await login(client, "olga", PASSWORD)
    headers = {"X-CSRF-Token": csrf}
    taken = await client.post(
        f"/api/v1/customers/{chat}/identities",
        json={"kind": "phone", "value": "+79123450002"},
        headers=headers,
    )
    assert taken.status == 409
    assert (await taken.json())["customer_id"] == phone
    refused = await client.post(
        f"/api/v1/customers/{phone}/merge", json={"other_id": chat}, headers=headers
    )
    assert refused.status == 403
    csrf = await login(client, "sveta", PASSWORD)
    merged = await client.post(
        f"/api/v1/customers/{phone}/merge", json={"other_id": chat}, headers={"X-CSRF-Token": csrf}
    )
    assert merged.status == 200
    body = await merged.json()
    assert {i["kind"] for i in body["identities"]} == {"phone", "webchat"}
    assert (await (await client.get(f"/api/v1/customers/{chat}")).json())["id"] == phone
