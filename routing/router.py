"""The router of one process: assignment batches when woken, sweeps on a timer.

Woken by every event after which something may have become routable (an interaction
arrived, an agent got room, an offer ended — published here or relayed from another
process), it runs assignment batches until one finds nothing more to do. Wake-ups that
come during a batch are folded into one more batch. A periodic sweep times offers out,
ends wrap-ups and waits, and wakes the router too (a sticky interaction may have become
free for everyone). At start the sweep runs first: the recovery after a crash.

Batches run on a connection of their own, so the router never waits for the pool.

Every router is woken by every other process's notification. A router woken only by
such notifications does not queue behind another router's batch: that router got the
same notifications, so it runs one more batch after the one it is in, and a second
batch right after it would find the work done. Wake-ups of its own process and of the
sweep always run a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from .assignment import Assigner
from .sweeps import Sweeper

log = logging.getLogger("routing.router")

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class Router:
    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        assigner: Assigner,
        sweeper: Sweeper,
        publish: Callable[[object], None],
        *,
        sweep_interval_s: float,
        retry_s: float = 0.5,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._assigner = assigner
        self._sweeper = sweeper
        self._publish = publish
        self._sweep_interval_s = sweep_interval_s
        self._retry_s = retry_s
        self._wakeup = asyncio.Event()
        # A wake-up that must run a batch, not only when no other router runs one.
        self._must_run = False
        self._conn: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.offers = 0
        self.skipped = 0

    def wake(self, _event: object = None) -> None:
        self._must_run = True
        self._wakeup.set()

    def wake_remote(self) -> None:
        """Another process's notification: a batch unless another router is in one."""
        self._wakeup.set()

    async def start(self) -> None:
        await self.sweep()
        self._tasks = [
            asyncio.create_task(self._assign_loop(), name="router-assign"),
            asyncio.create_task(self._sweep_loop(), name="router-sweep"),
        ]
        self.wake()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    async def sweep(self) -> None:
        try:
            async with self._pool.acquire() as conn:
                changed = await self._sweeper.sweep(conn)
        except _DB_ERRORS as exc:
            log.warning("routing sweep failed: %s", exc)
            return
        if changed:
            log.info("routing sweep changed %d interactions", changed)

    async def _assign_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            wait, self._must_run = self._must_run, False
            try:
                await self._assign_until_done(wait)
            except _DB_ERRORS as exc:
                log.warning("routing batch failed, retrying: %s", exc)
                if self._conn is not None:
                    self._conn.terminate()
                self._conn = None
                await asyncio.sleep(self._retry_s)
                self.wake()

    async def _assign_until_done(self, wait: bool) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn)
        while True:
            result = await self._assigner.run(self._conn, wait=wait)
            if result.skipped:
                self.skipped += 1
                return
            # A batch that left work behind is followed by another in any case.
            wait = True
            self.batches += 1
            self.offers += result.offers
            for event in result.events:
                self._publish(event)
            if not result.again:
                return

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            await self.sweep()
            self.wake()
