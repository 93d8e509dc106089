"""Two server processes on one database (two apps here): an operator whose socket is on
one and a visitor whose socket is on the other still talk, and the operator's stream
stays complete and in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from tests.app_helpers import start_client
from tests.workspace.world import Operator, World, running_world, world_config


@pytest.fixture(scope="module")
async def two(
    db_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[World, TestClient]]:
    data_dir = tmp_path_factory.mktemp("processes")
    config = world_config(db_dsn, data_dir)
    async with running_world(db_dsn, data_dir, config=config) as world:
        other = await start_client(config)
        try:
            yield world, other
        finally:
            await other.close()


async def test_an_operator_on_one_process_chats_with_a_visitor_on_another(
    two: tuple[World, TestClient],
) -> None:
    world, other = two
    olga = await Operator(other, "olga", world.users["olga"]).login()
    world.operators.append(olga)
    await world.status("oleg", "offline")
    socket = await olga.socket()
    await olga.available()

    visitor = world.visitor()
    await visitor.connect()
    first = await visitor.say("hello from the other side")
    offer = await socket.inbox.wait_for(lambda m: m.get("type") == "offer")
    assert offer["data"]["refs"]["conversation_id"] == str(first["conversation_id"])
    await olga.ok("POST", f"/api/v1/workspace/offers/{offer['data']['offer_id']}/accept")

    await visitor.say("are you on another server?")
    received = await socket.inbox.wait_for(
        lambda m: (
            m.get("type") == "chat_message" and m["data"]["text"] == "are you on another server?"
        )
    )
    assert received["data"]["direction"] == "in"
    await olga.ok(
        "POST",
        f"/api/v1/workspace/chats/{first['conversation_id']}/messages",
        {"text": "yes, and it works"},
    )
    answer = await visitor.inbox.wait_for(lambda m: m["type"] == "message")
    assert answer["text"] == "yes, and it works"
    await olga.ok("POST", f"/api/v1/workspace/chats/{first['conversation_id']}/close")
    await visitor.inbox.wait_for(lambda m: m["type"] == "closed")

    seqs = [m["seq"] for m in socket.items()]
    assert seqs == sorted(set(seqs))
    await socket.close()
