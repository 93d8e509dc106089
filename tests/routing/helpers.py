"""Building the routing services on a test database, and people and departments in it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from crm_connectors.store import CustomerStore
from routing.admin import RoutingAdmin
from routing.assignment import Assigner, BatchResult
from routing.config import RoutingConfig
from routing.directory import DepartmentDirectory
from routing.models import AgentProfile, Channel, NewInteraction
from routing.outbox import EventOutbox
from routing.overview import QueueOverview
from routing.services import RoutingService
from routing.settings import DepartmentSettings
from routing.sweeps import Sweeper
from server.clock import ManualClock
from server.config import TimersConfig

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Tables a test may leave rows in; routing_audit is append-only and stays.
TABLES = """offers, interactions, timeline_entries, customer_identities, customers,
    agent_skills, agent_departments, department_supervisors, departments, agents, users"""
_names = itertools.count(1)


@dataclass
class Stack:
    pool: asyncpg.Pool
    clock: ManualClock
    service: RoutingService
    admin: RoutingAdmin
    assigner: Assigner
    sweeper: Sweeper
    overview: QueueOverview
    customers: CustomerStore
    events: list[object] = field(default_factory=list)

    async def route(self) -> BatchResult:
        """Assignment batches until nothing more is assigned; all their events."""
        events: list[object] = []
        offers = 0
        async with self.pool.acquire() as conn:
            while True:
                result = await self.assigner.run(conn)
                events += result.events
                offers += result.offers
                self.events.extend(result.events)
                if not result.again:
                    return BatchResult(events, offers, False)

    def of_type(self, event_type: type) -> list:
        return [e for e in self.events if isinstance(e, event_type)]


def make_stack(
    pool: asyncpg.Pool,
    *,
    config: RoutingConfig | None = None,
    timers: TimersConfig | None = None,
    start: datetime = START,
) -> Stack:
    config = config or RoutingConfig()
    timers = timers or TimersConfig()
    clock = ManualClock(start)
    events: list[object] = []
    outbox = EventOutbox(events.append)
    directory = DepartmentDirectory()
    return Stack(
        pool=pool,
        clock=clock,
        service=RoutingService(outbox, directory, config, timers, clock.now),
        admin=RoutingAdmin(outbox, directory, clock.now),
        assigner=Assigner(directory, config, timers, clock.now),
        sweeper=Sweeper(outbox, directory, config, timers, clock.now),
        overview=QueueOverview(directory, config, clock.now),
        customers=CustomerStore(clock.now, default_country_code="7"),
        events=events,
    )


async def clean(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {TABLES} CASCADE")


async def add_user(conn: asyncpg.Connection, role: str = "operator", name: str = "") -> int:
    """A user without a usable password (hashing real ones is slow and not tested here)."""
    username = name or f"user{next(_names)}"
    return await conn.fetchval(
        """INSERT INTO users (username, role, password_hash) VALUES ($1, $2, 'x')
           RETURNING id""",
        username,
        role,
    )


async def add_agent(
    stack: Stack,
    departments: Sequence[int],
    *,
    capacity: int = 100,
    costs: Mapping[str, int] | None = None,
    skills: Mapping[str, int] | None = None,
    wrapup_s: float | None = 0.0,
    status: str = "available",
) -> int:
    async with stack.pool.acquire() as conn:
        user_id = await add_user(conn)
        await conn.execute(
            "INSERT INTO agents (user_id, sip_endpoint, sip_secret) VALUES ($1, $2, 'secret123')",
            user_id,
            f"ep{user_id}",
        )
        await stack.admin.set_agent_profile(
            conn,
            user_id,
            AgentProfile(
                capacity=capacity,
                channel_costs=dict(costs or {}),
                wrapup_s=wrapup_s,
                departments=frozenset(departments),
                skills=dict(skills or {}),
            ),
        )
        if status != "offline":
            await stack.service.set_agent_status(
                conn, user_id, status, "lunch" if status == "paused" else None
            )
    return user_id


async def add_department(stack: Stack, **settings: object) -> int:
    async with stack.pool.acquire() as conn:
        view = await stack.admin.create_department(
            conn, f"dept{next(_names)}", DepartmentSettings(**settings)
        )
    return view.department.id


async def add_customer(stack: Stack) -> int:
    async with stack.pool.acquire() as conn:
        customer = await stack.customers.resolve_customer(
            conn, "webchat", f"visitor-{next(_names)}"
        )
    return customer.id


async def enqueue(
    stack: Stack,
    department_id: int,
    channel: Channel = "webchat",
    *,
    customer_id: int | None = None,
    **fields: object,
):
    if customer_id is None:
        customer_id = await add_customer(stack)
    async with stack.pool.acquire() as conn:
        return await stack.service.enqueue(
            conn, NewInteraction(channel, customer_id, department_id, **fields)
        )
