"""Web chat from the visitor's side on the real app: identity across page loads,
messages stored before they are acknowledged, one interaction per conversation, limits,
rate limiting, blocking, the offline form and the rating."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.keys import POOL
from tests.app_helpers import create_user
from tests.workspace.world import (
    PASSWORD,
    SITE_KEY,
    SITE_ORIGIN,
    Operator,
    Visitor,
    World,
    running_world,
)
from text_channels.keys import TEXT_CHANNELS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
async def world(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with running_world(db_dsn, tmp_path_factory.mktemp("webchat")) as world:
        yield world


@pytest.fixture
async def olga(world: World) -> AsyncIterator[Operator]:
    """Olga alone is available (and holds nothing from an earlier test)."""
    operator = await world.operator("olga")
    await world.status("oleg", "offline")
    await operator.available()
    yield operator
    await world.status("olga", "offline")
    await world.close_all_chats()


async def _chat_with(visitor: Visitor, operator: Operator, first: str) -> int:
    """The visitor writes; the operator accepts the offer. Returns the conversation id."""
    ack = await visitor.say(first)
    assert ack["type"] == "ack", ack
    offer = await operator.offer(lambda o: o["card"]["conversation_id"] == ack["conversation_id"])
    await operator.ok("POST", f"/api/v1/workspace/offers/{offer['offer_id']}/accept")
    return ack["conversation_id"]


async def _row(world: World, sql: str, *args: object) -> object:
    async with world.app[POOL].acquire() as conn:
        return await conn.fetchrow(sql, *args)


async def test_the_first_message_opens_a_webchat_interaction_and_the_next_continue_it(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    welcome = await visitor.connect()
    assert welcome["available"] is True and welcome["conversation"] is None
    first = await visitor.say("Hello!")
    assert first["type"] == "ack"
    # Stored before the acknowledgement.
    stored = await _row(world, "SELECT body FROM conversation_messages WHERE id = $1", first["id"])
    assert stored["body"] == "Hello!"
    second = await visitor.say("Are you there?")
    assert second["conversation_id"] == first["conversation_id"]
    conversation = await _row(
        world, "SELECT * FROM conversations WHERE id = $1", first["conversation_id"]
    )
    interactions = await _row(
        world,
        "SELECT count(*) AS n, min(channel) AS channel FROM interactions WHERE customer_id = $1",
        conversation["customer_id"],
    )
    assert (interactions["n"], interactions["channel"]) == (1, "webchat")
    assert conversation["state"] == "open"


async def test_a_visitor_is_recognised_across_page_loads_and_gets_what_they_missed(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    await visitor.connect()
    conversation_id = await _chat_with(visitor, olga, "I ordered a lamp")
    seen = (await visitor.say("It is broken"))["id"]
    await visitor.disconnect()
    await olga.ok(
        "POST", f"/api/v1/workspace/chats/{conversation_id}/messages", {"text": "Sorry! Photo?"}
    )
    welcome = await visitor.connect(after=seen)
    assert welcome["conversation"]["id"] == conversation_id
    assert [m["text"] for m in welcome["messages"]] == ["Sorry! Photo?"]
    assert welcome["messages"][0]["author"] == "olga"
    # Another visitor with a forged token is somebody else.
    stranger = world.visitor()
    stranger.token = visitor.token[:-4] + "AAAA"
    assert (await stranger.connect())["conversation"] is None
    assert stranger.token != visitor.token


async def test_two_way_messages_and_typing_between_visitor_and_operator(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    await visitor.connect()
    socket = await olga.socket()
    conversation_id = await _chat_with(visitor, olga, "Hi there")
    await visitor.socket.send({"type": "typing", "on": True})
    typing = await socket.inbox.wait_for(lambda m: m.get("type") == "typing")
    assert typing["data"] == {"conversation_id": conversation_id, "on": True}
    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/typing", {"on": True})
    await visitor.inbox.wait_for(lambda m: m["type"] == "typing" and m["on"])
    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/messages", {"text": "Hello!"})
    answer = await visitor.inbox.wait_for(lambda m: m["type"] == "message")
    assert (answer["text"], answer["direction"], answer["author"]) == ("Hello!", "out", "olga")
    await visitor.say("Thanks")
    received = await socket.inbox.wait_for(
        lambda m: m.get("type") == "chat_message" and m["data"]["text"] == "Thanks"
    )
    assert received["data"]["conversation_id"] == conversation_id
    await socket.close()


async def test_oversized_messages_and_bad_files_are_refused_with_a_reason(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    await visitor.connect()
    too_long = await visitor.say("x" * 501)
    assert (too_long["type"], too_long["reason"]) == ("error", "too_long")
    files = {
        "too big": ("big.png", "image/png", PNG + b"\x00" * 40_000, "file_too_large"),
        "a program": ("run.exe", "application/x-msdownload", b"MZ\x90\x00", "file_type"),
        "not a png": ("fake.png", "image/png", b"<script>alert(1)</script>", "file_type"),
    }
    for why, (name, kind, data, reason) in files.items():
        await visitor.socket.send(
            {
                "type": "file",
                "ref": why,
                "name": name,
                "content_type": kind,
                "data": base64.b64encode(data).decode(),
            }
        )
        refused = await visitor.inbox.wait_for(lambda m, why=why: m.get("ref") == why)
        assert (refused["type"], refused["reason"]) == ("error", reason), why
    await visitor.socket.send(
        {
            "type": "file",
            "ref": "photo",
            "name": "photo.png",
            "content_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        }
    )
    ack = await visitor.inbox.wait_for(lambda m: m.get("ref") == "photo")
    assert ack["type"] == "ack"
    url = ack["attachment"]["url"]
    async with visitor.http.get(world.client.make_url(url)) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert await response.read() == PNG
    async with visitor.http.get(world.client.make_url(url[:-3] + "xyz")) as response:
        assert response.status == 404


async def test_a_visitor_flooding_messages_is_rate_limited(world: World, olga: Operator) -> None:
    visitor = world.visitor()
    await visitor.connect()
    answers = [await visitor.say(f"spam {i}") for i in range(8)]
    limited = [a for a in answers if a["type"] == "error"]
    assert limited and all(a["reason"] == "rate_limited" for a in limited)
    assert limited[0]["retry_after_s"] > 0
    assert [a["type"] for a in answers[:5]] == ["ack"] * 5


async def test_an_operator_blocks_a_visitor_who_can_send_nothing_more(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    await visitor.connect()
    conversation_id = await _chat_with(visitor, olga, "you are all idiots")
    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/block", {"reason": "abuse"})
    await visitor.inbox.wait_for(lambda m: m["type"] == "blocked")
    await visitor.disconnect()
    assert (await visitor.connect())["type"] == "blocked"


async def test_nobody_available_offers_the_offline_form(world: World, db_dsn: str) -> None:
    await world.status("olga", "offline")
    await world.status("oleg", "offline")
    visitor = world.visitor()
    welcome = await visitor.connect()
    assert (welcome["available"], welcome["reason"]) == (False, "nobody_available")
    refused = await visitor.say("hello?")
    assert (refused["type"], refused["reason"], refused["offline"]) == (
        "error",
        "nobody_available",
        True,
    )
    await visitor.socket.send(
        {
            "type": "offline",
            "ref": "form-1",
            "name": "Ivan",
            "contact": "ivan@example.org",
            "text": "Call me tomorrow",
        }
    )
    await visitor.inbox.wait_for(lambda m: m["type"] == "offline_saved")
    row = await _row(world, "SELECT * FROM offline_messages WHERE contact = 'ivan@example.org'")
    assert (row["body"], row["reason"]) == ("Call me tomorrow", "nobody_available")
    entry = await _row(
        world, "SELECT summary FROM timeline_entries WHERE customer_id = $1", row["customer_id"]
    )
    assert "Call me tomorrow" in entry["summary"]
    sam = await world.operator("sam")
    listed = await sam.ok("GET", "/api/v1/webchat/offline")
    assert [(m["name"], m["text"]) for m in listed] == [("Ivan", "Call me tomorrow")]
    ada = await world.operator("ada")
    assert [m["text"] for m in await ada.ok("GET", "/api/v1/webchat/offline")] == [
        "Call me tomorrow"
    ]
    # A supervisor of no department of the site's sees none of it.
    world.users["tess"] = (await create_user(db_dsn, "tess", "supervisor", PASSWORD)).id
    tess = await world.operator("tess")
    assert await tess.ok("GET", "/api/v1/webchat/offline") == []
    olga = await world.operator("olga")
    assert (await olga.call("GET", "/api/v1/webchat/offline"))[0] == 403


async def test_after_hours_offers_the_offline_form(world: World, olga: Operator) -> None:
    closed = {"timezone": "Europe/Moscow", "weekly": {}}
    await world.app[TEXT_CHANNELS].sites.put(
        "closed-shop", "Closed", world.department_id, [SITE_ORIGIN], closed
    )
    welcome = await world.visitor(site_key="closed-shop").connect()
    assert (welcome["available"], welcome["reason"]) == (False, "after_hours")


async def test_a_closed_chat_asks_the_visitor_for_a_rating(world: World, olga: Operator) -> None:
    visitor = world.visitor()
    await visitor.connect()
    conversation_id = await _chat_with(visitor, olga, "Where is my parcel?")
    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/close")
    await visitor.inbox.wait_for(lambda m: m["type"] == "closed")
    await visitor.socket.send(
        {"type": "rate", "conversation_id": conversation_id, "score": 5, "comment": "fast"}
    )
    await visitor.inbox.wait_for(lambda m: m["type"] == "rated")
    row = await _row(world, "SELECT * FROM conversations WHERE id = $1", conversation_id)
    assert (row["csat"], row["csat_comment"], row["closed_by"]) == (5, "fast", "agent")
    interaction = await world.interaction(row["interaction_id"])
    assert interaction["state"] == "completed"
    await visitor.socket.send(
        {"type": "rate", "ref": "again", "conversation_id": conversation_id, "score": 1}
    )
    again = await visitor.inbox.wait_for(lambda m: m.get("ref") == "again")
    assert again["reason"] == "rating"
    # The next message opens a new conversation.
    assert (await visitor.say("One more thing"))["conversation_id"] != conversation_id


async def test_sockets_only_from_the_sites_origins_and_known_sites(world: World) -> None:
    async with aiohttp.ClientSession() as http:
        for query, origin, status in (
            (f"site={SITE_KEY}", "http://evil.example", 403),
            (f"site={SITE_KEY}", None, 403),
            ("site=no-such-site", SITE_ORIGIN, 404),
        ):
            headers = {"Origin": origin} if origin else {}
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    world.client.make_url(f"/api/v1/webchat/ws?{query}"), headers=headers
                )
            assert refused.value.status == status


async def test_a_visitor_who_ends_the_chat_frees_the_operator_and_may_rate_it(
    world: World, olga: Operator
) -> None:
    visitor = world.visitor()
    await visitor.connect()
    socket = await olga.socket()
    conversation_id = await _chat_with(visitor, olga, "That is all, thanks")
    await visitor.socket.send({"type": "close"})
    closed = await socket.inbox.wait_for(lambda m: m.get("type") == "chat_closed")
    assert (closed["data"]["conversation_id"], closed["data"]["by"]) == (
        conversation_id,
        "customer",
    )
    await visitor.inbox.wait_for(lambda m: m["type"] == "closed")
    row = await _row(world, "SELECT * FROM conversations WHERE id = $1", conversation_id)
    assert (row["state"], row["closed_by"]) == ("closed", "customer")
    assert (await world.interaction(row["interaction_id"]))["state"] == "completed"
    await socket.close()
