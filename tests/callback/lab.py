"""The real callback path for the tests: PostgreSQL, Switchboard's Asterisk 22 with its
outbound trunk to a second Asterisk playing the carrier (tests/harness/carrier.py), the
server (routing, the call tracker, the callback executor), baresip agents registered to
Switchboard's Asterisk and baresip visitors registered to the carrier under their
phone numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance, allocate_port_block
from asterisk_conf.render import SipAccount
from routing.keys import ROUTING
from routing.models import AgentProfile
from routing.runtime import RoutingRuntime
from routing.settings import DepartmentSettings
from server.keys import POOL
from tests.harness.asterisk import RawAmi
from tests.harness.carrier import CarrierInstance, start_asterisk_with_trunk, start_carrier
from tests.harness.softphone import Softphone
from tests.harness.voice_lab import (
    ShiftedClock,
    connect_ami,
    no_calls,
    set_available,
    start_agent_phones,
    start_server,
    until,
    voice_config,
)

AGENTS = ("201", "202")
# An agent whose softphone is not registered anywhere.
PHONELESS = "203"
ACCOUNTS = tuple(SipAccount(a, f"secret-{a}-cb") for a in (*AGENTS, PHONELESS))
# Visitors: Berlin numbers (valid fixed lines), registered to the carrier as digits.
VISITORS = ("4930901820", "4930901821", "4930901822", "4930901823", "4930901824")
SITE = "shop-test"
# The same shop with working hours (Monday to Friday, 09:00-18:00 in Berlin).
HOURS_SITE = "shop-hours"
HOURS = {
    "timezone": "Europe/Berlin",
    "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
ORIGIN = "http://shop.test"
# Timers shortened so that every scenario runs in seconds.
TIMERS = {
    "ring_timeout_s": 4.0,
    "offer_timeout_s": 6.0,
    "offer_sweep_interval_s": 0.3,
    "wrapup_s": 1.0,
    "callback_retry_interval_s": 1.0,
    "callback_max_attempts": 2,
}


@dataclass
class Lab:
    asterisk: AsteriskInstance
    carrier: CarrierInstance
    client: TestClient
    ami: RawAmi
    runtime: RoutingRuntime
    agents: dict[str, Softphone]
    agent_ids: dict[str, int]
    clock: ShiftedClock
    workdir: Path
    department_id: int = 0
    visitors: dict[str, Softphone] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def operator_socket(self, agent: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """The agent logged in to the workspace, with its WebSocket open."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = await http.post(
                self.client.make_url("/api/v1/auth/login"),
                json={"username": self.usernames[agent], "password": "correct-horse-1"},
            )
            assert login.status == 200, await login.text()
            origin = str(self.client.make_url("/")).rstrip("/")
            ws = await http.ws_connect(
                self.client.make_url("/api/v1/ws"), headers={"Origin": origin}
            )
            try:
                yield ws
            finally:
                await ws.close()

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app[POOL]

    async def set_available(self, *agents: str, available: bool = True) -> None:
        await set_available(self.pool, self.runtime, [self.agent_ids[a] for a in agents], available)

    async def visitor(
        self, number: str, answer_mode: str = "manual", audio_in: Path | None = None
    ) -> Softphone:
        """The visitor's phone, started once per number (``audio_in``: what it sends,
        by default the softphones' tone)."""
        if number not in self.visitors:
            phone = self.carrier.visitor_phone(
                self.workdir / f"visitor-{number}",
                number,
                answer_mode=answer_mode,  # type: ignore[arg-type]
                audio_in=audio_in,
            )
            await phone.start()
            self.visitors[number] = phone
        return self.visitors[number]

    async def post(
        self, body: dict[str, Any], *, origin: str | None = ORIGIN, site: str = SITE
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Origin": origin} if origin else {}
        response = await self.client.post(
            f"/api/v1/callbacks?site={site}", json=body, headers=headers
        )
        return response.status, await response.json()

    async def request(self, request_id: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT * FROM callback_requests WHERE id = $1::uuid", request_id
            )

    async def attempts(self, request_id: str) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(
                "SELECT * FROM callback_attempts WHERE request_id = $1::uuid ORDER BY number",
                request_id,
            )

    async def until(
        self, check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 30.0
    ) -> Any:
        """Poll state another task changes until ``check()`` is truthy."""
        return await until(check, what, timeout_s)

    async def status_is(self, request_id: str, *statuses: str, timeout_s: float = 30.0) -> Any:
        async def check() -> Any:
            row = await self.request(request_id)
            return row if row["status"] in statuses else None

        return await self.until(check, f"request {request_id} {statuses}", timeout_s)

    async def settle(self) -> None:
        """Until no call is live in either Asterisk."""
        await no_calls(self.ami)
        carrier_ami = await RawAmi.connect(self.carrier)
        try:
            await no_calls(carrier_ami)
        finally:
            await carrier_ami.close()


def lab_config(
    db_dsn: str,
    data_dir: Path,
    asterisk: AsteriskInstance,
    agi_port: int,
    *,
    department_id: int = 1,
    origins: tuple[str, ...] = (ORIGIN,),
    callback: dict[str, Any] | None = None,
) -> Any:
    # Calls are recorded: MixMonitor writes the legs where Asterisk (in its root) and the
    # server both see them (the instance directory is bind-mounted at its own path).
    spool = asterisk.instance_dir / "shared" / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    return voice_config(
        db_dsn,
        data_dir,
        asterisk,
        TIMERS,
        agi={"port": agi_port},
        database={"pool_max": 10},
        recording={"spool_dir": str(spool)},
        callback={
            "sites": [
                {
                    "key": key,
                    "name": "Shop",
                    "origins": list(origins),
                    "countries": ["DE"],
                    "department_id": department_id,
                    "priority": 10,
                    "schedule": schedule,
                }
                for key, schedule in ((SITE, None), (HOURS_SITE, HOURS))
            ],
            "visitor_ring_s": 5,
            "poll_interval_s": 0.2,
            # Callers' numbers as the IVR sees them, without "+": read as German.
            "default_region": "DE",
            **(callback or {}),
        },
    )


@contextlib.asynccontextmanager
async def running_lab(
    workdir: Path,
    db_dsn: str,
    *,
    origins: tuple[str, ...] = (ORIGIN,),
    callback: dict[str, Any] | None = None,
) -> AsyncIterator[Lab]:
    agi_port = allocate_port_block(1)
    async with contextlib.AsyncExitStack() as stack:
        carrier = await start_carrier(workdir / "carrier", VISITORS)
        stack.push_async_callback(carrier.stop)
        asterisk = await start_asterisk_with_trunk(
            workdir / "pbx", carrier, ACCOUNTS, agi_port=agi_port
        )
        stack.push_async_callback(asterisk.stop)
        config = lab_config(
            db_dsn,
            workdir / "data",
            asterisk,
            agi_port,
            origins=origins,
            callback=callback,
        )
        clock = ShiftedClock()
        usernames = {a.name: f"cb{a.name}-{workdir.name}" for a in ACCOUNTS}
        agents = {a.name: (usernames[a.name], a.secret) for a in ACCOUNTS}
        client, agent_ids = await start_server(stack, config, db_dsn, agents, clock)
        runtime = client.app[ROUTING]
        async with client.app[POOL].acquire() as conn:
            # The site's department, named by id in the configuration: the first one
            # made in the module's database.
            department_id = await conn.fetchval("SELECT min(id) FROM departments")
            if department_id is None:
                view = await runtime.admin.create_department(conn, "Sales", DepartmentSettings())
                department_id = view.department.id
            assert department_id == 1, department_id
            for user_id in agent_ids.values():
                await runtime.admin.set_agent_profile(
                    conn, user_id, AgentProfile(departments=frozenset({department_id}))
                )
        ami = await connect_ami(stack, asterisk)
        phones = await start_agent_phones(
            stack, asterisk, workdir, {a.name: a for a in ACCOUNTS if a.name in AGENTS}, "agent"
        )
        lab = Lab(
            asterisk, carrier, client, ami, runtime, phones, agent_ids, clock, workdir,
            department_id=department_id, usernames=usernames,
        )  # fmt: skip
        stack.push_async_callback(_stop_visitors, lab)
        yield lab


async def _stop_visitors(lab: Lab) -> None:
    await asyncio.gather(*(p.stop() for p in lab.visitors.values()))
