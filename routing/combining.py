"""Concurrent service calls of one kind made into one statement: group commit.

Under load, many calls of one kind are in flight in a process at once — agents accepting
offers and ending conversations, contacts arriving —, each on a connection of its own.
Alone, each would be a round trip and a commit of its own, and for such short statements
that is most of the cost (the server's per-statement and commit work, the client's, and
two process wake-ups), not the row each changes. So a caller runs the statement for
itself and for every call of the same kind waiting, on its own connection, while the
others wait for their rows. Up to ``overlap`` such statements run at once (one can be on
its way while another waits for its commit); a call arriving when that many run waits,
and the first of the waiting runs the next statement for all of them. Without company a
call is a statement of its own, at once. Under load — the last statement had company —
the caller who runs the next one may first linger a moment (``linger_s``) for more to
join: each statement and its commit cost several times a row, so fewer, fuller ones
leave more of the machine for everything else (PostgreSQL's ``commit_delay`` idea).

Each item is judged on its own inside the statement (it gets a row, or none). A caller
whose item got none, or whose statement failed, takes the service's one-call path, which
finds out why (or retries) exactly as it would have without company.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

log = logging.getLogger("routing.combining")

T = TypeVar("T")
R = TypeVar("R")

# Handed to a waiting caller: run the next statement yourself.
_LEAD = object()


class Combiner(Generic[T, R]):
    """``run(conn, items)`` returns one result (or None) per item, in order; it is one
    statement, so one transaction, on a connection outside any transaction."""

    def __init__(
        self,
        name: str,
        run: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[Sequence[R | None]]],
        *,
        limit: int = 200,
        overlap: int = 1,
        linger_s: float = 0.0,
    ) -> None:
        self.name = name
        self._run = run
        self._limit = limit
        # Statements at once. More than one hides a statement's latency behind another's,
        # but makes smaller statements: measured on a busy machine, one was cheaper.
        self._overlap = overlap
        self._linger_s = linger_s
        # The last statement had company: calls are arriving faster than statements end.
        self._busy = False
        self._waiting: collections.deque[tuple[T, asyncio.Future[object]]] = collections.deque()
        self._running = 0
        # Counters for logs and benchmarks.
        self.statements = 0
        self.items = 0

    async def submit(self, conn: asyncpg.Connection, item: T) -> R | None:
        """The item's result; None when it got no row or the statement failed."""
        return await self._submit(item, lambda items: self._run(conn, items))

    async def submit_from(self, pool: asyncpg.Pool, item: T) -> R | None:
        """``submit``, for a caller with no connection of its own: only the caller who runs
        a statement takes one from ``pool``, for that statement; the others wait for
        their rows holding none."""

        async def run(items: Sequence[T]) -> Sequence[R | None]:
            async with pool.acquire() as conn:
                return await self._run(conn, items)

        return await self._submit(item, run)

    async def _submit(
        self, item: T, run: Callable[[Sequence[T]], Awaitable[Sequence[R | None]]]
    ) -> R | None:
        if self._running >= self._overlap:
            future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            self._waiting.append((item, future))
            try:
                outcome = await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled() and future.result() is _LEAD:
                    self._pass_lead()
                raise
            if outcome is not _LEAD:
                return outcome  # type: ignore[return-value]
        else:
            self._running += 1
        if self._busy and self._linger_s > 0:
            try:
                await asyncio.sleep(self._linger_s)
            except asyncio.CancelledError:
                self._pass_lead()
                raise
        batch: list[tuple[T, asyncio.Future[object] | None]] = [(item, None)]
        while self._waiting and len(batch) < self._limit:
            batch.append(self._waiting.popleft())
        items = [i for i, _ in batch]
        statement = asyncio.ensure_future(run(items)) if len(batch) > 1 else None
        cancelled = False
        try:
            try:
                if statement is None:
                    results = await run(items)
                else:
                    results = await asyncio.shield(statement)
            except asyncio.CancelledError:
                if statement is None:
                    raise
                # The others are waiting for this statement: it goes on, this caller
                # stops once it is over.
                cancelled = True
                results = await statement
        except Exception as exc:
            log.warning("%s: %d together failed, each goes alone: %s", self.name, len(batch), exc)
            results = [None] * len(batch)
        except BaseException:
            for _, future in batch[1:]:
                if future is not None and not future.done():
                    future.set_result(None)
            raise
        finally:
            self.statements += 1
            self.items += len(batch)
            self._busy = len(batch) > 1
            self._pass_lead()
        for (_, future), result in zip(batch[1:], results[1:], strict=True):
            if future is not None and not future.done():
                future.set_result(result)
        if cancelled:
            raise asyncio.CancelledError
        return results[0]

    def _pass_lead(self) -> None:
        """A statement is over: the first caller waiting, if any, runs the next one."""
        while self._waiting:
            _item, future = self._waiting.popleft()
            if not future.done():
                future.set_result(_LEAD)
                return
        self._running -= 1
