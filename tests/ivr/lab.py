"""The real voice path for the IVR tests: PostgreSQL, Asterisk 22, the server (with the
IVR, the call tracker and a router), baresip agents 100-102 and an "external number"
softphone, and scripted callers (Local channels) whose digits are sent when the IVR
listens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance, allocate_port_block
from asterisk_conf.render import SipAccount
from ivr.config import IvrConfig
from ivr.keys import IVR
from routing.keys import ROUTING
from routing.models import AgentProfile
from routing.runtime import RoutingRuntime
from routing.settings import DepartmentSettings
from server.config import Config
from server.keys import POOL
from tests.harness.asterisk import AmiMessage, RawAmi, start_test_asterisk
from tests.harness.softphone import Softphone
from tests.harness.voice_lab import (
    ShiftedClock,
    connect_ami,
    dial_ivr,
    no_calls,
    press,
    robot_side,
    set_available,
    start_agent_phones,
    start_server,
    until,
    voice_config,
)

AGENTS = ("100", "101", "102")
# Agents whose phone is not registered anywhere.
PHONELESS = ("103", "104")
EXTERNAL = "79990001122"
ACCOUNTS = tuple(SipAccount(a, f"secret-{a}-x") for a in (*AGENTS, EXTERNAL))
NUMBER = "500"
# Timers shortened so that every scenario runs in seconds.
TIMERS = {
    "ring_timeout_s": 4.0,
    "offer_timeout_s": 6.0,
    "announce_period_s": 2.0,
    "offer_sweep_interval_s": 0.3,
    "wrapup_s": 1.0,
}


class LabConfig(Config):
    """The server's configuration with the ``[ivr]`` section it will have."""

    ivr: IvrConfig = IvrConfig()


@dataclass
class Lab:
    asterisk: AsteriskInstance
    client: TestClient
    ami: RawAmi
    runtime: RoutingRuntime
    phones: dict[str, Softphone]
    agent_ids: dict[str, int]
    db_dsn: str
    clock: ShiftedClock
    departments: dict[str, int] = field(default_factory=dict)
    _callers: list[Caller] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app[POOL]

    async def department(self, name: str, agents: tuple[str, ...], **settings: Any) -> int:
        """A department (created once per name) served by ``agents``."""
        async with self.pool.acquire() as conn:
            if name not in self.departments:
                view = await self.runtime.admin.create_department(
                    conn, name, DepartmentSettings(**settings)
                )
                self.departments[name] = view.department.id
            department_id = self.departments[name]
            for agent in agents:
                await self.runtime.admin.set_agent_profile(
                    conn,
                    self.agent_ids[agent],
                    AgentProfile(departments=frozenset({department_id})),
                )
        return department_id

    async def set_available(self, *agents: str, available: bool = True) -> None:
        await set_available(self.pool, self.runtime, [self.agent_ids[a] for a in agents], available)

    async def put_menus(self, document: dict[str, Any], number: str = NUMBER) -> None:
        await self.app[IVR].menus.put(number, document)

    async def call(
        self, caller: str = "+79160000001", number: str = NUMBER, *, talk: bool = False
    ) -> Caller:
        """A scripted caller dialling ``number``; returns once the IVR has the call.
        ``talk``: the caller sends sound all along (music), as when leaving a message."""
        start = await dial_ivr(
            self.ami,
            number,
            f"Caller <{caller}>",
            talk=talk,
            where=lambda e: not any(c.ivr_channel == e["Channel"] for c in self._callers),
        )
        caller_obj = Caller(self, start["Channel"], start["Linkedid"])
        self._callers.append(caller_obj)
        return caller_obj

    def events_of(self, channel: str, event: str) -> list[AmiMessage]:
        return [
            e for e in self.ami.events if e.get("Event") == event and e.get("Channel") == channel
        ]

    async def journal(self, call_id: str, timeout_s: float = 20.0) -> asyncpg.Record:
        """The call's journal row once its outcome is in."""

        async def row() -> asyncpg.Record | None:
            async with self.pool.acquire() as conn:
                return await conn.fetchrow(
                    "SELECT * FROM calls WHERE call_id = $1 AND outcome IS NOT NULL", call_id
                )

        return await until(row, f"the journal row of call {call_id}", timeout_s)

    async def interaction(self, interaction_id: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM interactions WHERE id = $1", interaction_id)

    async def until(
        self, check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 20.0
    ) -> Any:
        """Poll database state another task changes until ``check()`` is truthy."""
        return await until(check, what, timeout_s)

    async def settle(self) -> None:
        """Wait until no call of the lab is live in Asterisk any more."""
        await no_calls(self.ami)


@dataclass
class Caller:
    lab: Lab
    ivr_channel: str
    call_id: str
    _seen: int = 0

    @property
    def robot_channel(self) -> str:
        return robot_side(self.ivr_channel)

    async def listening(
        self, command: str = "WAIT FOR DIGIT", timeout_s: float = 20.0
    ) -> AmiMessage:
        """The next AGI command starting with ``command`` on this call's IVR side."""
        return await self.lab.ami.wait_event(
            lambda e: (
                e.get("Event") == "AGIExecStart"
                and e.get("Channel") == self.ivr_channel
                and e.get("Command", "").startswith(command)
            ),
            timeout_s=timeout_s,
        )

    async def press(self, digit: str, when: str = "WAIT FOR DIGIT") -> None:
        """Send ``digit`` once the IVR is reading one (never after a guessed pause)."""
        await self.listening(when)
        await press(self.lab.ami, self.robot_channel, digit)

    async def leave_message(self, seconds: float = 1.0) -> None:
        """Once recording has started, talk until the message holds ``seconds`` of
        sound, then hang up (as most callers end a message)."""
        await self.listening("RECORD FILE")
        spool = self.lab.asterisk.spool_dir / "ivr" / "voicemail"
        wanted = 44 + int(seconds * 8000 * 2)

        async def long_enough() -> bool:
            files = await asyncio.to_thread(lambda: list(spool.glob("*.wav")))
            sizes = await asyncio.to_thread(lambda: [f.stat().st_size for f in files])
            return any(size >= wanted for size in sizes)

        await self.lab.until(long_enough, "a recorded message")
        await self.hang_up()

    async def hang_up(self) -> None:
        await self.lab.ami.send({"Action": "Hangup", "Channel": self.robot_channel})


@contextlib.asynccontextmanager
async def running_lab(
    workdir: Path, db_dsn: str, *, recording: dict[str, Any] | None = None, **ivr: Any
) -> AsyncIterator[Lab]:
    """The lab; ``ivr`` and ``recording`` are settings of those sections."""
    data_dir = workdir / "data"
    # The Asterisk lives in <data_dir>/asterisk, as with `switchboard up`: the IVR's
    # spool (prompts, voicemail) is inside it, seen at the same path by both.
    asterisk = await start_test_asterisk(
        data_dir / "asterisk", ACCOUNTS, agi_port=allocate_port_block(1)
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(asterisk.stop)
        base = voice_config(
            db_dsn,
            data_dir,
            asterisk,
            TIMERS,
            database={"pool_max": 10},
            # MixMonitor writes the legs inside Asterisk's root: the instance directory
            # is the one both sides see at the same path.
            recording={"spool_dir": str(data_dir / "asterisk" / "recordings"), **(recording or {})},
        )
        config = LabConfig.model_validate(
            {
                **base.model_dump(),
                "ivr": {
                    "external_dial": "PJSIP/{digits}",
                    "forward_ring_s": 3,
                    "voicemail_max_s": 8,
                    "voicemail_silence_s": 2,
                    "retry_failed_phone_s": 30,
                    **ivr,
                },
            }
        )
        clock = ShiftedClock()
        agents = {a: (f"agent{a}", f"secret-{a}-x") for a in AGENTS + PHONELESS}
        client, agent_ids = await start_server(stack, config, db_dsn, agents, clock)
        ami = await connect_ami(stack, asterisk)
        phones = await start_agent_phones(stack, asterisk, workdir, {a.name: a for a in ACCOUNTS})
        yield Lab(asterisk, client, ami, client.app[ROUTING], phones, agent_ids, db_dsn, clock)
