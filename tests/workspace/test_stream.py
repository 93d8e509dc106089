"""The operator's socket: live items, and what was missed while it was down arriving
after the reconnect — once, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.keys import POOL
from tests.workspace.world import World, running_world


@pytest.fixture(scope="module")
async def world(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with running_world(db_dsn, tmp_path_factory.mktemp("stream")) as world:
        yield world


async def test_offers_and_messages_sent_while_the_socket_was_down_arrive_after_reconnect_once(
    world: World,
) -> None:
    olga = await world.operator("olga")
    socket = await olga.socket()
    await olga.available()
    status = await socket.inbox.wait_for(lambda m: m.get("type") == "status")
    assert status["data"]["status"] == "available"
    last_seen = status["seq"]
    await socket.close()

    visitor = world.visitor()
    await visitor.connect()
    assert (await visitor.say("hello, anyone?"))["type"] == "ack"
    offer = await olga.offer()
    assert offer["channel"] == "webchat"
    await olga.ok("POST", f"/api/v1/workspace/offers/{offer['offer_id']}/accept")
    assert (await visitor.say("my order is late"))["type"] == "ack"

    again = await olga.socket(since=last_seen)
    message = await again.inbox.wait_for(
        lambda m: m.get("type") == "chat_message" and m["data"]["text"] == "my order is late"
    )
    missed = again.items()
    seqs = [m["seq"] for m in missed]
    assert seqs == list(range(last_seen + 1, last_seen + 1 + len(seqs)))
    kinds = [m["type"] for m in missed]
    assert kinds.count("offer") == 1 and kinds.count("offer_accepted") == 1
    assert kinds.index("offer") < kinds.index("offer_accepted") < kinds.index("chat_message")
    assert message["data"]["direction"] == "in"

    # Live again: the next message arrives once, right after the ones replayed.
    assert (await visitor.say("order 4711"))["type"] == "ack"
    live = await again.inbox.wait_for(
        lambda m: m.get("type") == "chat_message" and m["data"]["text"] == "order 4711"
    )
    assert live["seq"] == seqs[-1] + 1
    await again.close()

    # Caught up: reconnecting from the last item replays nothing.
    third = await olga.socket(since=live["seq"])
    assert (await visitor.say("still there?"))["type"] == "ack"
    await third.inbox.wait_for(lambda m: m.get("type") == "chat_message")
    assert [m["data"]["text"] for m in third.items()] == ["still there?"]
    await third.close()


async def test_a_page_whose_missed_items_were_pruned_is_told_to_reload(world: World) -> None:
    olga = next(o for o in world.operators if o.username == "olga")
    current = await olga.socket()
    head = current.inbox.messages[0]["seq"]
    assert head > 2
    await current.close()
    async with world.app[POOL].acquire() as conn:
        await conn.execute(
            "DELETE FROM workspace_events WHERE user_id = $1 AND seq < $2", olga.id, head - 1
        )
    stale = await olga.socket(since=1)
    assert stale.inbox.messages[0]["reset"] is True
    assert stale.items() == []
    await stale.close()
    fresh = await olga.socket(since=head - 2)
    assert fresh.inbox.messages[0]["reset"] is False
    await fresh.inbox.wait_for(lambda m: m.get("type") != "hello" and m.get("seq") == head)
    assert [m["seq"] for m in fresh.items()] == [head - 1, head]
    await fresh.close()


async def test_a_socket_from_a_foreign_page_is_refused(world: World) -> None:
    oleg = await world.operator("oleg")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await oleg.http.ws_connect(
            oleg.url("/api/v1/ws"), headers={"Origin": "http://evil.example"}
        )
    assert refused.value.status == 403


async def test_a_socket_needs_a_login(world: World) -> None:
    visitor = world.visitor()
    async with visitor.http.get(world.client.make_url("/api/v1/ws")) as response:
        assert response.status == 401
