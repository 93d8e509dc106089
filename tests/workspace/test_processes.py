"""Two server processes on one database (two apps here): an operator whose socket is on
one and a visitor whose socket is on the other still talk, and the operator's stream
stays complete and in order; typing indicators, stored nowhere, cross too."""

from __future__ import annotations

import asyncio
import contextlib
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


async def test_typing_crosses_processes_both_ways(two: tuple[World, TestClient]) -> None:
    """Nothing stores a typing indicator: the notification carries it to the process
    holding the other side's socket."""
    world, other = two
    olga = await Operator(other, "olga", world.users["olga"]).login()
    world.operators.append(olga)
    await world.status("oleg", "offline")
    socket = await olga.socket()
    await olga.available()
    visitor = world.visitor()
    await visitor.connect()
    first = await visitor.say("may I type?")
    conversation_id = first["conversation_id"]
    offer = await socket.inbox.wait_for(
        lambda m: (
            m.get("type") == "offer"
            and m["data"]["refs"].get("conversation_id") == str(conversation_id)
        )
    )
    await olga.ok("POST", f"/api/v1/workspace/offers/{offer['data']['offer_id']}/accept")

    def typing(m: dict) -> bool:
        return m.get("type") == "typing" and m["data"]["conversation_id"] == conversation_id

    # The visitor's process learns who holds the chat from routing's relayed events; an
    # indicator sent before that is dropped (harmless), so the visitor keeps typing.
    async with asyncio.timeout(10):
        while not any(typing(m) for m in socket.inbox.messages):
            await visitor.socket.send({"type": "typing", "on": True})  # type: ignore[union-attr]
            with contextlib.suppress(TimeoutError):
                await socket.inbox.wait_for(typing, timeout_s=0.5)
    shown = next(m for m in socket.inbox.messages if typing(m))
    assert shown["data"]["on"] is True
    assert "seq" not in shown, "live only, not part of the stream"

    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/typing", {"on": True})
    told = await visitor.inbox.wait_for(
        lambda m: m["type"] == "typing" and m["conversation_id"] == conversation_id
    )
    assert told["on"] is True
    await olga.ok("POST", f"/api/v1/workspace/chats/{conversation_id}/close")
    await visitor.inbox.wait_for(lambda m: m["type"] == "closed")
    await socket.close()
