"""Several router processes on one real PostgreSQL: no double offer, no overfilled agent,
and recovery of a process killed with offers open."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import asyncpg
import pytest

from routing.audit import audit
from routing.config import RoutingConfig
from routing.models import AgentProfile, NewInteraction
from routing.runtime import RoutingRuntime
from routing.settings import DepartmentSettings
from server.bus import EventBus
from tests.routing import worker
from tests.routing.helpers import add_customer, add_user, clean, make_stack

CLEAN = {"double_offers": 0, "over_capacity": 0, "offers_to_unavailable": 0}
ctx = mp.get_context("spawn")


class Workers:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.out = ctx.Queue()
        # One stop event each: a process killed while waiting on an event breaks it.
        self.processes: list[tuple[mp.process.BaseProcess, object]] = []

    def start(self, index: int, count: int, answers: dict[str, float]) -> mp.process.BaseProcess:
        ready, stop = ctx.Event(), ctx.Event()
        process = ctx.Process(
            target=worker.serve,
            args=(self.dsn, index, count, answers, index + 1, ready, stop, self.out),
        )
        process.start()
        assert ready.wait(30), "worker did not start"
        self.processes.append((process, stop))
        return process

    def finish(self) -> list[dict[str, int]]:
        alive = [(p, stop) for p, stop in self.processes if p.exitcode is None]
        for _, stop in alive:
            stop.set()
        reports = [self.out.get(timeout=30) for _ in alive]
        for p, _ in self.processes:
            p.join(30)
        return reports


@contextmanager
def workers(dsn: str) -> Iterator[Workers]:
    w = Workers(dsn)
    try:
        yield w
    finally:
        for p, stop in w.processes:
            if p.exitcode is None:
                stop.set()
                p.join(10)
            if p.exitcode is None:
                p.kill()


@pytest.fixture
async def runtime(db_pool: asyncpg.Pool, db_dsn: str) -> AsyncIterator[RoutingRuntime]:
    """This test's own process: it enqueues, and its events wake the workers' routers."""
    await clean(db_pool)
    bus = EventBus()
    rt = RoutingRuntime(
        dsn=db_dsn,
        pool=db_pool,
        bus=bus,
        config=RoutingConfig(router=False),
        timers=worker.TIMERS,
        clock=lambda: datetime.now(UTC),
        receive=(),
    )
    await rt.start()
    yield rt
    await rt.close()
    await bus.close()


async def add_agents(db_pool, rt: RoutingRuntime, departments, capacities) -> list[int]:
    ids = []
    async with db_pool.acquire() as conn:
        for n, capacity in enumerate(capacities):
            user_id = await add_user(conn)
            await conn.execute(
                "INSERT INTO agents (user_id, sip_endpoint, sip_secret) VALUES ($1, $2, 'x')",
                user_id,
                f"cc{user_id}",
            )
            await rt.admin.set_agent_profile(
                conn,
                user_id,
                AgentProfile(
                    capacity=capacity,
                    wrapup_s=0,
                    departments=frozenset(departments[n % len(departments) :][:2]),
                ),
            )
            await rt.service.set_agent_status(conn, user_id, "available")
            ids.append(user_id)
    return ids


async def wait_until_all(db_pool, state: str, total: int, within: float) -> None:
    deadline = time.monotonic() + within
    async with db_pool.acquire() as conn:
        while time.monotonic() < deadline:
            done = await conn.fetchval("SELECT count(*) FROM interactions WHERE state = $1", state)
            if done == total:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"only {done} of {total} interactions {state} in {within}s")


async def nothing_held(db_pool) -> None:
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT sum(load) FROM agents") == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM offers WHERE state IN ('offered', 'accepted')"
            )
            == 0
        )
        assert await audit(conn) == CLEAN


async def test_three_router_processes_never_double_offer_or_overfill_an_agent(
    db_pool: asyncpg.Pool, db_dsn: str, runtime: RoutingRuntime
) -> None:
    stack = make_stack(db_pool)
    async with db_pool.acquire() as conn:
        queue = await runtime.admin.create_department(
            conn, "queue", DepartmentSettings(strategy="least_loaded")
        )
        ring = await runtime.admin.create_department(
            conn, "ring", DepartmentSettings(mode="ring_group")
        )
    departments = [queue.department.id, ring.department.id]
    await add_agents(db_pool, runtime, departments, [20, 60, 100, 100, 140, 40] * 2)
    rng = random.Random(4)
    answers = {"accept": 0.7, "decline": 0.15, "ignore": 0.15}
    total = 300
    with workers(db_dsn) as w:
        for index in range(3):
            w.start(index, 3, answers)
        async with db_pool.acquire() as conn:
            for _ in range(total):
                await runtime.service.enqueue(
                    conn,
                    NewInteraction(
                        channel=rng.choice(["voice", "webchat", "email", "telegram"]),
                        customer_id=await add_customer(stack),
                        department_id=rng.choice(departments),
                    ),
                )
        await wait_until_all(db_pool, "completed", total, within=90)
        reports = w.finish()
    outcomes = sum((Counter(r) for r in reports), start=Counter())
    assert outcomes["decline"] and outcomes["ignore"], outcomes
    async with db_pool.acquire() as conn:
        offers = await conn.fetchval("SELECT count(*) FROM offers")
        timed_out = await conn.fetchval("SELECT count(*) FROM offers WHERE state = 'timed_out'")
    assert offers > total and timed_out > 0
    await nothing_held(db_pool)


async def test_offers_of_a_killed_router_are_recovered_by_the_next_one(
    db_pool: asyncpg.Pool, db_dsn: str, runtime: RoutingRuntime
) -> None:
    stack = make_stack(db_pool)
    async with db_pool.acquire() as conn:
        view = await runtime.admin.create_department(conn, "recovery", DepartmentSettings())
    await add_agents(db_pool, runtime, [view.department.id], [100, 100, 100])
    with workers(db_dsn) as w:
        deaf = w.start(0, 1, {"ignore": 1.0})
        async with db_pool.acquire() as conn:
            for _ in range(10):
                await runtime.service.enqueue(
                    conn,
                    NewInteraction("webchat", await add_customer(stack), view.department.id),
                )
        await wait_until_all(db_pool, "offered", 10, within=10)
        deaf.kill()
        deaf.join(10)
        w.start(0, 1, {"accept": 1.0})
        await wait_until_all(db_pool, "completed", 10, within=30)
        w.finish()
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM offers WHERE state = 'timed_out'") >= 10
    await nothing_held(db_pool)
