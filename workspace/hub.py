"""Per-user event streams for the operator page: numbered, stored, fanned out live.

``push`` is synchronous and never blocks (bus subscribers call it). One writer task
stores what was pushed in batches — a transaction takes the users' next sequence
numbers and inserts the items — and only then hands each item to the user's open
sockets. A socket that reconnects with the last number it saw gets what it missed from
the table, once; a socket that sees a gap (an item stored by another server process)
fills it from the table before going on, so every socket sees its user's stream in
order, without holes.

The items are a copy for the page, not the truth (that is routing's and the channels'
tables): they are written without waiting for the WAL flush, and pruned after a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from . import repository
from .stream import Ephemeral, Outgoing, StreamItem, number_items

log = logging.getLogger("workspace.hub")

_REPLAY_PAGE = 500


class Poke:
    """Items may have been stored for this socket's user elsewhere: read the table."""


POKE = Poke()


class Subscriber:
    """One open socket of a user: what it still has to send, and what it sent last."""

    def __init__(self, user_id: int, limit: int) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[StreamItem | Ephemeral | Poke | None] = asyncio.Queue(limit)
        self.last_seq = 0
        # Fell too far behind: the socket is closed and the page catches up on reconnect.
        self.overflowed = False

    def offer(self, item: StreamItem | Ephemeral | Poke) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("socket too slow, closing it user_id=%s", self.user_id)
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class StreamHub:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Callable[[], datetime],
        *,
        batch_max: int = 500,
        socket_queue: int = 2000,
        retention: timedelta = timedelta(days=1),
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._batch_max = batch_max
        self._socket_queue = socket_queue
        self._retention = retention
        self._pending: list[Outgoing] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Told the users whose streams got items, after each batch: the other server
        # processes' sockets of those users read them from the table (workspace.wakeups).
        self.on_stored: Callable[[list[int]], None] | None = None
        # Told every live-only item sent here: the user's sockets on other processes get
        # it too (workspace.wakeups), as nothing stored would tell them.
        self.on_ephemeral: Callable[[int, Ephemeral], None] | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="workspace-hub-writer"),
            asyncio.create_task(self._prune_loop(), name="workspace-hub-prune"),
        ]

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- in -------------------------------------------------------------------------------

    def push(self, item: Outgoing) -> None:
        """Queue an item for its user's stream; stored and sent by the writer."""
        self._pending.append(item)
        self._idle.clear()
        self._wake.set()

    def push_ephemeral(self, user_id: int, item: Ephemeral) -> None:
        """Send to the user's open sockets now, here and on other processes; nothing is
        stored."""
        self.send_ephemeral_here(user_id, item)
        if self.on_ephemeral is not None:
            self.on_ephemeral(user_id, item)

    def send_ephemeral_here(self, user_id: int, item: Ephemeral) -> None:
        """Send to the user's sockets on this process only (another process's item)."""
        for subscriber in self._subscribers.get(user_id, ()):
            subscriber.offer(item)

    def poke(self, user_ids: Collection[int] | None = None) -> None:
        """The users' sockets here (all, with None) read what the table has for them."""
        users = self._subscribers.keys() if user_ids is None else user_ids
        for user_id in list(users):
            for subscriber in self._subscribers.get(user_id, ()):
                subscriber.offer(POKE)

    async def drain(self) -> None:
        """Wait until everything pushed so far is stored and handed to the sockets."""
        await self._idle.wait()

    # --- sockets ----------------------------------------------------------------------------

    def subscribe(self, user_id: int) -> Subscriber:
        subscriber = Subscriber(user_id, self._socket_queue)
        self._subscribers.setdefault(user_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.user_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[subscriber.user_id]

    async def head(self, user_id: int) -> int:
        async with self._pool.acquire() as conn:
            return await repository.stream_head(conn, user_id)

    async def can_replay(self, user_id: int, since: int, head: int) -> bool:
        """Whether the table still has every item after ``since`` (old ones are pruned)."""
        if since >= head:
            return since == head
        async with self._pool.acquire() as conn:
            oldest = await repository.oldest_seq(conn, user_id)
        return oldest is not None and oldest <= since + 1

    async def stored(self, user_id: int, after: int, before: int | None = None) -> list[StreamItem]:
        """The user's items after ``after`` (and before ``before``), from the table."""
        items: list[StreamItem] = []
        async with self._pool.acquire() as conn:
            while True:
                rows = await repository.events_between(conn, user_id, after, before, _REPLAY_PAGE)
                items += [
                    StreamItem(r["user_id"], r["seq"], r["kind"], json.loads(r["payload"]), r["at"])
                    for r in rows
                ]
                if len(rows) < _REPLAY_PAGE:
                    return items
                after = rows[-1]["seq"]

    # --- the writer -------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._batch_max]
                del self._pending[: len(batch)]
                try:
                    await self._write(batch)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # The page is behind until its next reconnect, which reloads its state.
                    log.error("%d workspace items lost: %s", len(batch), exc)
            self._idle.set()

    async def _write(self, batch: list[Outgoing]) -> None:
        at = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            # A copy for the page: not worth waiting for the WAL flush.
            await conn.execute("SET LOCAL synchronous_commit = off")
            holder_ids = sorted({i.holder_of for i in batch if i.holder_of is not None})
            holders = await repository.holders(conn, holder_ids) if holder_ids else {}
            addressed = [
                (user_id, item)
                for item in batch
                if (user_id := _recipient(item, holders)) is not None
            ]
            if not addressed:
                return
            counts: dict[int, int] = {}
            for user_id, _ in addressed:
                counts[user_id] = counts.get(user_id, 0) + 1
            users = sorted(counts)
            last = await repository.reserve_seqs(conn, users, [counts[u] for u in users])
            numbered = number_items(addressed, last)
            stored = await repository.insert_events(
                conn,
                [
                    (user_id, seq, item.kind, _json(item.payload), item.key)
                    for user_id, seq, item in numbered
                ],
                at,
            )
        if stored and self.on_stored is not None:
            self.on_stored(sorted({user_id for user_id, _ in stored}))
        for user_id, seq, item in numbered:
            if (user_id, seq) not in stored:
                continue
            stream_item = StreamItem(user_id, seq, item.kind, item.payload, at)
            for subscriber in self._subscribers.get(user_id, ()):
                subscriber.offer(stream_item)

    async def _prune_loop(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as conn:
                    removed = await repository.prune_events(conn, self._clock() - self._retention)
                if removed:
                    log.info("workspace items pruned count=%d", removed)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("workspace prune failed: %s", exc)
            await asyncio.sleep(3600)


def _recipient(item: Outgoing, holders: Mapping[int, int]) -> int | None:
    if item.user_id is not None:
        return item.user_id
    assert item.holder_of is not None
    return holders.get(item.holder_of)


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)
