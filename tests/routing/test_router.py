"""The router of a process beside others: when it waits for the routers' lock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from routing.assignment import ROUTER_LOCK
from routing.events import OfferMade
from routing.router import Router
from tests.routing.helpers import Stack, add_agent, add_department, enqueue


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Polls: the router's counters have no event to wait on."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not met")


async def test_a_batch_that_need_not_wait_steps_aside_while_another_is_running(
    stack: Stack, db_dsn: str
) -> None:
    department = await add_department(stack)
    await add_agent(stack, [department])
    await enqueue(stack, department)
    holder = await asyncpg.connect(db_dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", ROUTER_LOCK)
        async with stack.pool.acquire() as conn:
            result = await stack.assigner.run(conn, wait=False)
            assert result.skipped and result.offers == 0
            await holder.execute("SELECT pg_advisory_unlock($1)", ROUTER_LOCK)
            result = await stack.assigner.run(conn, wait=False)
            assert not result.skipped and result.offers == 1
            assert not await conn.fetchval(
                """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                   AND database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())"""
            ), "no lock left behind"
    finally:
        await holder.close()


async def test_a_router_woken_from_elsewhere_leaves_the_work_to_the_router_in_a_batch(
    stack: Stack, db_dsn: str
) -> None:
    department = await add_department(stack)
    await add_agent(stack, [department])
    published: list[object] = []
    router = Router(
        db_dsn, stack.pool, stack.assigner, stack.sweeper, published.append, sweep_interval_s=3600
    )
    holder = await asyncpg.connect(db_dsn)
    try:
        await router.start()
        await until(lambda: router.batches == 1)
        # Another router is in a batch; an interaction arrives and its notification
        # reaches this router too.
        await holder.execute("SELECT pg_advisory_lock($1)", ROUTER_LOCK)
        await enqueue(stack, department)
        router.wake_remote()
        await until(lambda: router.skipped == 1)
        assert router.batches == 1
        # An event of its own process: this router waits for its turn.
        router.wake()
        await asyncio.sleep(0.2)
        assert not published
        await holder.execute("SELECT pg_advisory_unlock($1)", ROUTER_LOCK)
        await until(lambda: any(isinstance(e, OfferMade) for e in published))
    finally:
        await router.close()
        await holder.close()
