"""Transactions of the routing services, and their events published only once committed.

A service call runs in its own transaction and publishes its events after the commit.
A feature that wants its own writes and a routing call in one transaction (a callback
request stored and queued together) opens it with :meth:`EventOutbox.transaction`; the
routing calls inside then run in savepoints and their events wait for the outer commit.
A routing call inside a transaction opened any other way is refused: its events could
otherwise announce something that is rolled back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

Publish = Callable[[object], None]


class EventOutbox:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._open: dict[int, list[object]] = {}

    @asynccontextmanager
    async def transaction(self, conn: asyncpg.Connection) -> AsyncIterator[None]:
        """A transaction for the caller's writes and routing calls together."""
        if id(conn) in self._open:
            raise RuntimeError("a routing transaction is already open on this connection")
        events: list[object] = []
        self._open[id(conn)] = events
        try:
            async with conn.transaction():
                yield
        finally:
            del self._open[id(conn)]
        self._flush(events)

    @asynccontextmanager
    async def unit(
        self, conn: asyncpg.Connection, *, single_statement: bool = False
    ) -> AsyncIterator[list[object]]:
        """The transaction of one service call; yields the list to put its events in.

        ``single_statement``: the call runs one statement, which is its own transaction.
        """
        outer = self._open.get(id(conn))
        events: list[object] = []
        if outer is not None:
            async with conn.transaction():
                yield events
            outer.extend(events)
            return
        if conn.is_in_transaction():
            raise RuntimeError(
                "routing calls inside a transaction need EventOutbox.transaction(conn)"
            )
        if single_statement:
            yield events
        else:
            async with conn.transaction():
                yield events
        self._flush(events)

    def published(self, events: list[object]) -> None:
        """Events of a statement that ran on its own connection and committed."""
        self._flush(events)

    def _flush(self, events: list[object]) -> None:
        for event in events:
            self._publish(event)
