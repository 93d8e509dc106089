"""Domain events between server processes, over PostgreSQL LISTEN/NOTIFY.

``publish(event)`` delivers the event on the local bus at once and sends it to the other
processes, which publish it on their buses. The NOTIFY is sent after the transaction
that made the event committed, batched: whatever is published while one NOTIFY is on
its way, or in a short window after it, leaves in the next one. Sending NOTIFY from
inside the business transactions would be atomic with them, but PostgreSQL serialises
the commits of every transaction that notifies (one global lock held through the WAL
flush), which would cap the whole queue at a few thousand commits per second; and every
notification costs every listening process, so fewer and fuller ones are cheaper.

So a notification can be lost when a process dies between its commit and the send, or
while a connection is down. That is acceptable because a notification is a wake-up and
a copy: the tables are the truth, every router also sweeps periodically, and the
listener reports a reconnection so its process can catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import asyncpg

from server.bus import EventBus

from .codec import EventCodec, UnknownEvent

log = logging.getLogger("routing.relay")

DEFAULT_CHANNEL = "switchboard_events"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900


def pack(origin: str, encoded: list[str], limit: int = MAX_PAYLOAD) -> list[str]:
    """JSON-encoded events packed into as few payloads under ``limit`` bytes as possible."""
    head = '{"o":' + json.dumps(origin) + ',"e":['
    payloads: list[str] = []
    batch: list[str] = []
    size = len(head) + 2
    for item in encoded:
        item_size = len(item.encode()) + 1
        if len(head) + 2 + item_size > limit:
            log.error("event too large to relay, dropped: %.200s", item)
            continue
        if batch and size + item_size > limit:
            payloads.append(head + ",".join(batch) + "]}")
            batch, size = [], len(head) + 2
        batch.append(item)
        size += item_size
    if batch:
        payloads.append(head + ",".join(batch) + "]}")
    return payloads


class EventRelay:
    def __init__(
        self,
        dsn: str,
        bus: EventBus,
        codec: EventCodec,
        *,
        channel: str = DEFAULT_CHANNEL,
        receive: Collection[type] | None = None,
        batch_window_s: float = 0.002,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._bus = bus
        self._codec = codec
        self._channel = channel
        # The other processes' events published here: all, or only these types (a process
        # with one job need not decode everything).
        self._receive = None if receive is None else {t.__name__ for t in receive}
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        # After each NOTIFY the sender waits this long, so that what is published
        # meanwhile leaves together: every notification costs every listening process.
        self._batch_window_s = batch_window_s
        # Tells our own notifications apart from the other processes'.
        self.origin = uuid.uuid4().hex[:12]
        self._outgoing: list[object] = []
        self._pending = asyncio.Event()
        self._sender: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_reconnect: list[Callable[[], Awaitable[None] | None]] = []
        self._on_remote: list[Callable[[], None]] = []
        # Counters for logs and benchmarks.
        self.notifications_sent = 0
        self.notifications_received = 0

    def on_remote(self, callback: Callable[[], None]) -> None:
        """``callback`` runs on every notification from another process, before (and
        whether or not) its events are decoded: a wake-up needs no decoding."""
        self._on_remote.append(callback)

    def on_reconnect(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """``callback`` runs after the listening connection came back: events may be lost."""
        self._on_reconnect.append(callback)

    async def start(self) -> None:
        await self._listen()
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="relay-send"),
            asyncio.create_task(self._listen_loop(), name="relay-listen"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._outgoing:
            await self._send(self._take())
        for conn in (self._sender, self._listener):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._sender = self._listener = None

    def publish(self, event: object) -> None:
        self._bus.publish(event)
        if self._codec.knows(event):
            self._outgoing.append(event)
            self._pending.set()

    def _take(self) -> list[object]:
        events, self._outgoing = self._outgoing, []
        return events

    async def _send_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self._send(self._take())
            await asyncio.sleep(self._batch_window_s)

    async def _send(self, events: list[object]) -> None:
        encoded = [json.dumps(self._codec.encode(e), separators=(",", ":")) for e in events]
        payloads = pack(self.origin, encoded)
        try:
            if self._sender is None or self._sender.is_closed():
                self._sender = await asyncpg.connect(self._dsn)
                # A notification is not worth a WAL flush: losing it in a crash is allowed.
                await self._sender.execute("SET synchronous_commit = off")
            await self._sender.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", self._channel, payloads
            )
            self.notifications_sent += len(payloads)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("%d events not relayed to other processes: %s", len(events), exc)
            if self._sender is not None:
                self._sender.terminate()
            self._sender = None

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(self._channel, self._on_notify)
        self._listener = conn

    async def _listen_loop(self) -> None:
        delay = self._reconnect[0]
        while True:
            await self._lost.wait()
            log.warning("event relay lost its LISTEN connection; reconnecting")
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("event relay reconnect failed: %s", exc)
                    delay = min(delay * 2, self._reconnect[1])
                    continue
                break
            delay = self._reconnect[0]
            for callback in self._on_reconnect:
                result = callback()
                if result is not None:
                    await result

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifications_received += 1
        try:
            message = json.loads(payload)
            if message["o"] == self.origin:
                return
            for callback in self._on_remote:
                callback()
            wanted = self._receive
            events = [
                self._codec.decode(item)
                for item in message["e"]
                if wanted is None or item[0] in wanted
            ]
        except (ValueError, KeyError, TypeError, UnknownEvent) as exc:
            log.error("undecodable notification ignored (%s): %.200s", exc, payload)
            return
        for event in events:
            self._bus.publish(event)
