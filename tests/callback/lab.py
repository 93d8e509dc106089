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
from datetime import UTC, datetime, timedelta
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
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, make_config, start_client
from tests.harness.asterisk import RawAmi
from tests.harness.carrier import CarrierInstance, start_asterisk_with_trunk, start_carrier
from tests.harness.softphone import Softphone

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


class ShiftedClock:
    """Real time moved to another moment: time passes (offers expire), and a test
    decides whether the center is open."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def jump_to(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(UTC)


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
        async with self.pool.acquire() as conn:
            for agent in agents:
                await self.runtime.service.set_agent_status(
                    conn, self.agent_ids[agent], "available" if available else "offline"
                )

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
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    result = await check()
                    if result:
                        return result
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"not within {timeout_s} s: {what}") from None

    async def status_is(self, request_id: str, *statuses: str, timeout_s: float = 30.0) -> Any:
        async def check() -> Any:
            row = await self.request(request_id)
            return row if row["status"] in statuses else None

        return await self.until(check, f"request {request_id} {statuses}", timeout_s)

    async def settle(self) -> None:
        """Until no call is live in either Asterisk."""
        for instance in (self.asterisk, self.carrier):
            ami = self.ami if instance is self.asterisk else await RawAmi.connect(instance)
            try:
                async with asyncio.timeout(30):
                    while True:
                        response = await ami.send(
                            {"Action": "Command", "Command": "core show channels count"}
                        )
                        if "0 active channels" in response.get("Output", ""):
                            break
                        await asyncio.sleep(0.1)
            finally:
                if ami is not self.ami:
                    await ami.close()


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
    settings = asterisk.settings
    # Calls are recorded: MixMonitor writes the legs where Asterisk (in its root) and the
    # server both see them (the instance directory is bind-mounted at its own path).
    spool = asterisk.instance_dir / "shared" / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    return make_config(
        db_dsn,
        data_dir,
        ami={
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
            "ping_interval_s": 1.0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
        timers=TIMERS,
    ).replace(
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
    stack = contextlib.AsyncExitStack()
    clock = ShiftedClock()
    try:
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
        agent_ids, usernames = {}, {}
        for agent in (*AGENTS, PHONELESS):
            usernames[agent] = f"cb{agent}-{workdir.name}"
            user = await create_user(db_dsn, usernames[agent], "operator")
            agent_ids[agent] = user.id
        client = await start_client(config, clock)
        stack.push_async_callback(client.close)
        app = client.app
        for agent, user_id in agent_ids.items():
            await app[PHONES].set_agent(user_id, agent, f"secret-{agent}-cb")
        runtime = app[ROUTING]
        async with app[POOL].acquire() as conn:
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
        ami = await RawAmi.connect(asterisk)
        stack.push_async_callback(ami.close)
        registrar = ("127.0.0.1", asterisk.settings.sip_port)
        phones = {
            a.name: Softphone(workdir / f"agent-{a.name}", a.name, a.secret, registrar)
            for a in ACCOUNTS
            if a.name in AGENTS
        }
        for phone in phones.values():
            stack.push_async_callback(phone.stop)
        await asyncio.gather(*(p.start() for p in phones.values()))
        lab = Lab(
            asterisk, carrier, client, ami, runtime, phones, agent_ids, clock, workdir,
            department_id=department_id, usernames=usernames,
        )  # fmt: skip
        stack.push_async_callback(_stop_visitors, lab)
        yield lab
    finally:
        await stack.aclose()


async def _stop_visitors(lab: Lab) -> None:
    await asyncio.gather(*(p.stop() for p in lab.visitors.values()))
