"""Domain events between server processes, over PostgreSQL LISTEN/NOTIFY.

``publish(event)`` delivers the event on the local bus at once and sends it to the other
processes, which publish it on their buses. The NOTIFY is sent after the transaction
that made the event committed, batched: whatever is published while one NOTIFY is on
its way, or in a short window after it, leaves in the next one. Sending NOTIFY from
inside the business transactions would be atomic with them, but PostgreSQL serialises
the commits of every transaction that notifies (one global lock held through the WAL
flush), which would cap the whole queue at a few thousand commits per second; and every
notification costs every listening process, so fewer and fuller ones are cheaper. A
notification names its origin and its events' types before the events, so a process
reads no further than it must: not its own, not one with nothing it takes; and a
process that takes nothing and wants no wake-up does not listen at all.

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


def pack(origin: str, items: list[tuple[str, str]], limit: int = MAX_PAYLOAD) -> list[str]:
    """(type name, JSON-encoded event) pairs packed into as few payloads under ``limit``
    bytes as possible. A payload names its origin and the types of its events first, so
    that a receiver can tell whether it is any of its business without reading on."""
    head = '{"o":' + json.dumps(origin) + ',"t":'
    fixed = len(head) + len(',"e":[]}')
    payloads: list[str] = []
    batch: list[str] = []
    types: list[str] = []
    # Bytes of the events and of the type list (with its brackets) so far.
    size = types_size = 2

    def flush() -> None:
        names = json.dumps(types, separators=(",", ":"))
        payloads.append(head + names + ',"e":[' + ",".join(batch) + "]}")

    for name, item in items:
        item_size = len(item.encode()) + 1
        name_size = len(json.dumps(name).encode()) + 1
        if fixed + 2 + name_size + item_size > limit:
            log.error("event too large to relay, dropped: %.200s", item)
            continue
        grows = 0 if name in types else name_size
        if batch and fixed + types_size + grows + size + item_size > limit:
            flush()
            batch, types = [], []
            size = types_size = 2
            grows = name_size
        batch.append(item)
        size += item_size
        if grows:
            types.append(name)
            types_size += grows
    if batch:
        flush()
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
        self._own_head = '{"o":' + json.dumps(self.origin) + ","
        self._outgoing: list[object] = []
        self._pending = asyncio.Event()
        self._sender: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_reconnect: list[Callable[[], Awaitable[None] | None]] = []
        self._on_remote: list[tuple[Callable[[], None], frozenset[str] | None]] = []
        # Counters for logs and benchmarks.
        self.notifications_sent = 0
        self.notifications_received = 0

    def on_remote(
        self, callback: Callable[[], None], types: Collection[type] | None = None
    ) -> None:
        """``callback`` runs on every notification from another process — or on those
        carrying an event of one of ``types`` —, before (and whether or not) its events
        are decoded: a wake-up needs no decoding. Register before ``start``."""
        names = None if types is None else frozenset(t.__name__ for t in types)
        self._on_remote.append((callback, names))

    def on_reconnect(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """``callback`` runs after the listening connection came back: events may be lost."""
        self._on_reconnect.append(callback)

    @property
    def listens(self) -> bool:
        """Whether other processes' notifications are any use here: a process that takes
        none of their events and is woken by none only sends, and so costs the others
        nothing (every listening process is woken by every notification)."""
        return self._receive != set() or bool(self._on_remote) or bool(self._on_reconnect)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop(), name="relay-send")]
        if self.listens:
            await self._listen()
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="relay-listen"))

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
        encoded = [
            (type(e).__name__, json.dumps(self._codec.encode(e), separators=(",", ":")))
            for e in events
        ]
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
        if payload.startswith(self._own_head):
            return
        try:
            # The head (origin and types) alone first: often it is all that is needed.
            head, found, _events = payload.partition(',"e":')
            message = json.loads(head + "}") if found else json.loads(payload)
            if message["o"] == self.origin:
                return
            types = message.get("t")
            for callback, wanted_types in self._on_remote:
                if wanted_types is None or types is None or not wanted_types.isdisjoint(types):
                    callback()
            wanted = self._receive
            if wanted is not None and types is not None and wanted.isdisjoint(types):
                return
            if found:
                message = json.loads(payload)
            events = [
                self._codec.decode(item)
                for item in message["e"]
                if wanted is None or item[0] in wanted
            ]
        except (ValueError, KeyError, TypeError, AttributeError, UnknownEvent) as exc:
            log.error("undecodable notification ignored (%s): %.200s", exc, payload)
            return
        for event in events:
            self._bus.publish(event)
