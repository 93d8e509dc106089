"""Data is scoped on the server: an operator reaches only the interactions offered to or
held by them and those customers; a supervisor their departments; an admin everything.
And the page's session resists CSRF and session fixation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest

from recording.events import RecordingLinked
from server.auth.middleware import SESSION_COOKIE
from server.keys import BUS
from tests.app_helpers import create_user
from tests.workspace.world import PASSWORD, Operator, World, running_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@dataclass
class Held:
    interaction_id: int
    conversation_id: int
    customer_id: int
    attachment_id: int


@pytest.fixture(scope="module")
async def world(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    sue = await create_user(db_dsn, "sue", "supervisor", PASSWORD)
    async with running_world(db_dsn, tmp_path_factory.mktemp("scoping")) as world:
        world.users["sue"] = sue.id
        yield world


@pytest.fixture(scope="module")
async def held(world: World) -> Held:
    """A chat Olga accepted, with a file from her."""
    olga = await world.operator("olga")
    await world.status("oleg", "offline")
    await olga.available()
    visitor = world.visitor()
    await visitor.connect()
    ack = await visitor.say("private question")
    offer = await olga.offer()
    await olga.ok("POST", f"/api/v1/workspace/offers/{offer['offer_id']}/accept")
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="x.png", content_type="image/png")
    status, sent = await olga.call(
        "POST", f"/api/v1/workspace/chats/{ack['conversation_id']}/attachments", data=form
    )
    assert status == 201, sent
    return Held(
        offer["interaction_id"],
        ack["conversation_id"],
        offer["card"]["customer"]["id"],
        sent["attachment"]["id"],
    )


def reads(h: Held) -> list[str]:
    return [
        f"/api/v1/workspace/interactions/{h.interaction_id}",
        f"/api/v1/workspace/customers/{h.customer_id}",
        f"/api/v1/workspace/chats/{h.conversation_id}",
        f"/api/v1/workspace/chats/{h.conversation_id}/attachments/{h.attachment_id}",
    ]


async def test_another_operator_gets_404_for_the_interaction_customer_chat_and_file(
    world: World, held: Held
) -> None:
    oleg = await world.operator("oleg")
    for path in reads(held):
        status, _ = await oleg.call("GET", path)
        assert status == 404, path
    writes = [
        ("POST", f"/api/v1/workspace/chats/{held.conversation_id}/messages", {"text": "hi"}),
        ("POST", f"/api/v1/workspace/chats/{held.conversation_id}/close", None),
        ("POST", f"/api/v1/workspace/chats/{held.conversation_id}/block", {}),
        ("POST", f"/api/v1/workspace/chats/{held.conversation_id}/typing", {"on": True}),
        ("PUT", f"/api/v1/customers/{held.customer_id}/tags", {"tags": ["x"]}),
        (
            "POST",
            f"/api/v1/workspace/interactions/{held.interaction_id}/wrapup",
            {"disposition": "resolved"},
        ),
    ]
    for method, path, body in writes:
        status, _ = await oleg.call(method, path, body)
        assert status == 404, path


async def test_an_operator_cannot_take_anothers_offer(world: World, held: Held) -> None:
    oleg = await world.operator("oleg")
    olga = next(o for o in world.operators if o.username == "olga")
    visitor = world.visitor()
    await visitor.connect()
    await visitor.say("second customer")
    offer = await olga.offer()
    status, _ = await oleg.call("POST", f"/api/v1/workspace/offers/{offer['offer_id']}/accept")
    assert status == 403
    status, _ = await oleg.call("POST", f"/api/v1/workspace/offers/{offer['offer_id']}/decline")
    assert status == 403
    status, _ = await oleg.call("GET", f"/api/v1/workspace/interactions/{offer['interaction_id']}")
    assert status == 404
    # Offered to Olga: she sees it before accepting.
    assert (await olga.call("GET", f"/api/v1/workspace/interactions/{offer['interaction_id']}"))[
        0
    ] == 200


async def test_the_departments_supervisor_and_the_admin_see_it_another_supervisor_not(
    world: World, held: Held
) -> None:
    sam, ada, sue = [await world.operator(u) for u in ("sam", "ada", "sue")]
    for path in reads(held):
        assert (await sam.call("GET", path))[0] == 200, path
        assert (await ada.call("GET", path))[0] == 200, path
        assert (await sue.call("GET", path))[0] == 404, path
    customer = await sam.ok("GET", f"/api/v1/workspace/customers/{held.customer_id}")
    assert any("Web chat" in e["summary"] for e in customer["timeline"])


async def test_state_changes_need_the_csrf_header_of_the_session(world: World, held: Held) -> None:
    olga = next(o for o in world.operators if o.username == "olga")
    path = f"/api/v1/workspace/chats/{held.conversation_id}/messages"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        async with olga.http.post(olga.url(path), json={"text": "x"}, headers=headers) as response:
            assert response.status == 403
    # A cross-site form post carries the cookie but can set no header.
    async with olga.http.post(
        olga.url(f"/api/v1/workspace/chats/{held.conversation_id}/close"), data={"x": "1"}
    ) as response:
        assert response.status == 403


async def test_a_session_id_planted_before_login_is_never_the_victims_session(
    world: World,
) -> None:
    attacker = await Operator(world.client, "oleg", world.users["oleg"]).login()
    planted = next(c.value for c in attacker.http.cookie_jar if c.key == SESSION_COOKIE)
    victim = Operator(world.client, "olga", world.users["olga"])
    victim.http.cookie_jar.update_cookies({SESSION_COOKIE: planted}, victim.client.make_url("/"))
    await victim.login()
    fresh = next(c.value for c in victim.http.cookie_jar if c.key == SESSION_COOKIE)
    assert fresh != planted
    # The planted id still belongs to whoever created it, never to the victim.
    me = await attacker.ok("GET", "/api/v1/auth/me")
    assert me["username"] == "oleg"
    forged = Operator(world.client, "olga", world.users["olga"])
    forged.http.cookie_jar.update_cookies(
        {SESSION_COOKIE: "made-up-session.signature"}, forged.client.make_url("/")
    )
    assert (await forged.call("GET", "/api/v1/workspace/state"))[0] == 401
    for operator in (attacker, victim, forged):
        await operator.close()


async def test_a_recording_linked_to_a_call_lands_on_the_timeline_of_those_who_see_the_customer(
    world: World, held: Held
) -> None:
    olga, oleg, sam = [await world.operator(u) for u in ("olga", "oleg", "sam")]
    now = datetime.now(UTC)
    world.app[BUS].publish(
        RecordingLinked(
            recording_id=9001,
            call_row_id=1,
            call_id="1700000000.77",
            call_started_at=now,
            customer_id=held.customer_id,
            caller_number=None,
            duration_s=42.0,
            at=now,
        )
    )
    async with asyncio.timeout(10):
        while True:
            customer = await olga.ok("GET", f"/api/v1/workspace/customers/{held.customer_id}")
            recorded = [e for e in customer["timeline"] if e["recording_id"] == 9001]
            if recorded:
                break
            await asyncio.sleep(0.05)
    assert recorded[0]["summary"] == "Call recorded (0:42)"
    timeline = await sam.ok("GET", f"/api/v1/customers/{held.customer_id}/timeline")
    assert [e["data"]["call_id"] for e in timeline["entries"] if e["source"] == "recording"] == [
        "1700000000.77"
    ]
    for path in (
        f"/api/v1/workspace/customers/{held.customer_id}",
        f"/api/v1/customers/{held.customer_id}/timeline",
    ):
        assert (await oleg.call("GET", path))[0] == 404, path
