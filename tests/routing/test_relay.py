"""Events between processes over a real PostgreSQL's LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from routing.codec import EventCodec
from routing.events import ROUTING_EVENTS, InteractionCompleted, OfferDeclined, OfferMade
from routing.relay import EventRelay
from server.bus import EventBus

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
codec = EventCodec(ROUTING_EVENTS)


class Process:
    """One relay with its own bus, as one server process has."""

    def __init__(self, dsn: str, **options: object) -> None:
        self.bus = EventBus()
        self.seen: list[object] = []
        self.bus.subscribe(object, self.seen.append)
        self.relay = EventRelay(dsn, self.bus, codec, channel="test_relay", **options)

    async def settle(self) -> None:
        await asyncio.sleep(0.15)
        await self.bus.drain()


@pytest.fixture
async def pair(db_dsn: str) -> AsyncIterator[tuple[Process, Process]]:
    a, b = Process(db_dsn), Process(db_dsn, receive=(OfferMade,))
    await a.relay.start()
    await b.relay.start()
    yield a, b
    for p in (a, b):
        await p.relay.close()
        await p.bus.close()


def offer(n: int) -> OfferMade:
    return OfferMade(n, 10 + n, 20, "voice", 30, 40, "queue", AT, AT, (("call_id", f"c{n}"),))


async def test_an_event_published_here_reaches_the_other_process_once(pair) -> None:
    a, b = pair
    a.relay.publish(offer(1))
    await a.settle()
    await b.settle()
    assert a.seen == [offer(1)], "not echoed back to its own bus"
    assert b.seen == [offer(1)]


async def test_a_process_receives_only_the_event_types_it_asked_for_but_is_woken(
    pair,
) -> None:
    a, b = pair
    woken = []
    b.relay.on_remote(lambda: woken.append(1))
    a.relay.publish(OfferDeclined(1, 2, 3, AT))
    a.relay.publish(InteractionCompleted(2, "webchat", 5, 3, AT))
    await b.settle()
    assert b.seen == []
    assert woken


async def test_a_wake_up_for_some_event_types_comes_only_with_those(pair) -> None:
    a, b = pair
    woken = []
    b.relay.on_remote(lambda: woken.append(1), (InteractionCompleted,))
    a.relay.publish(offer(1))
    await b.settle()
    assert woken == []
    a.relay.publish(offer(2))
    a.relay.publish(InteractionCompleted(2, "webchat", 5, 3, AT))
    await b.settle()
    assert woken
    assert b.seen == [offer(1), offer(2)]


async def test_a_process_that_takes_no_event_and_no_wake_up_does_not_listen(
    pair, db_dsn: str
) -> None:
    a, _b = pair
    quiet = Process(db_dsn, receive=())
    woken = Process(db_dsn, receive=())
    woken.relay.on_remote(lambda: None)
    try:
        for p in (quiet, woken):
            await p.relay.start()
        assert not quiet.relay.listens
        assert woken.relay.listens
        quiet.relay.publish(offer(3))
        await a.settle()
        assert a.seen == [offer(3)], "it still sends"
    finally:
        for p in (quiet, woken):
            await p.relay.close()
            await p.bus.close()


async def test_a_burst_of_events_travels_in_few_notifications(pair) -> None:
    a, b = pair
    for n in range(300):
        a.relay.publish(offer(n))
    await a.settle()
    await b.settle()
    assert b.seen == [offer(n) for n in range(300)]
    assert a.relay.notifications_sent < 30


async def test_a_notification_nobody_can_read_is_ignored(pair, db_dsn: str) -> None:
    a, b = pair
    conn = await asyncpg.connect(db_dsn)
    try:
        await conn.execute("SELECT pg_notify('test_relay', 'not json')")
        await conn.execute("""SELECT pg_notify('test_relay', '{"o": "x", "e": [["Nope", []]]}')""")
    finally:
        await conn.close()
    a.relay.publish(offer(7))
    await b.settle()
    assert b.seen == [offer(7)]


async def test_a_lost_listen_connection_comes_back_and_says_so(db_dsn: str) -> None:
    a = Process(db_dsn)
    b = Process(db_dsn, reconnect_min_s=0.05)
    reconnected = asyncio.Event()
    b.relay.on_reconnect(reconnected.set)
    await a.relay.start()
    await b.relay.start()
    try:
        listener_pid = b.relay._listener.get_server_pid()
        conn = await asyncpg.connect(db_dsn)
        try:
            await conn.execute("SELECT pg_terminate_backend($1)", listener_pid)
        finally:
            await conn.close()
        await asyncio.wait_for(reconnected.wait(), 5)
        a.relay.publish(offer(9))
        await b.settle()
        assert b.seen == [offer(9)]
    finally:
        for p in (a, b):
            await p.relay.close()
            await p.bus.close()
