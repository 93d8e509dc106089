"""What the real-stack voice labs share: tests/ivr/lab.py, tests/workspace/voice.py and
tests/callback/lab.py each bring up PostgreSQL, a real Asterisk (tests/harness/asterisk.py,
with a trunk to tests/harness/carrier.py or not), the server talking to it, and baresip
agents (tests/harness/softphone.py). The set-up of that voice path lives here once; each
lab keeps what only its own tests need.

A lab goes::

    asterisk = await start_test_asterisk(dir, accounts, agi_port=...)  # or with a trunk
    config = voice_config(db_dsn, data_dir, asterisk, TIMERS, recording=...)
    client, agent_ids = await start_server(stack, config, db_dsn, agents, clock)
    phones = await start_agent_phones(stack, asterisk, workdir, accounts)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance
from asterisk_conf.render import AsteriskSettings, SipAccount
from routing.runtime import RoutingRuntime
from server.config import Config
from server.keys import PHONES
from tests.app_helpers import create_user, make_config, start_client
from tests.harness.asterisk import AmiMessage, RawAmi
from tests.harness.softphone import Softphone


class ShiftedClock:
    """Real time moved to another moment: time passes (offers expire, waits grow), and a
    test decides whether it is a working day, an evening or a holiday (whether the center
    is open)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def jump_to(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(UTC)


# ---- configuration and start ---------------------------------------------------------


def ami_section(settings: AsteriskSettings) -> dict[str, Any]:
    """The server's ``[ami]`` for the test Asterisk: pinged every second and reconnected
    at once, so that a test never waits long for a lost or restarted AMI."""
    return {
        "port": settings.ami_port,
        "username": settings.ami_username,
        "secret": settings.ami_secret,
        "ping_interval_s": 1.0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
    }


def voice_config(
    db_dsn: str,
    data_dir: Path,
    asterisk: AsteriskInstance,
    timers: Mapping[str, Any],
    **sections: dict[str, Any],
) -> Config:
    """The test configuration of a server talking to ``asterisk``: its AMI, FastAGI on
    the port the dialplan calls, the lab's ``timers``; ``sections`` change more keys."""
    settings = asterisk.settings
    return make_config(db_dsn, data_dir, ami=ami_section(settings), timers=dict(timers)).replace(
        **{"agi": {"port": settings.agi_port}, **sections}
    )


async def start_server(
    stack: contextlib.AsyncExitStack,
    config: Config,
    db_dsn: str,
    agents: Mapping[str, tuple[str, str]],
    clock: ShiftedClock | None = None,
) -> tuple[TestClient, dict[str, int]]:
    """The app serving ``config`` (closed by ``stack``) with an operator per agent:
    ``agents`` maps each agent's endpoint to its username and SIP secret. Returns the
    client and the agents' user ids by endpoint."""
    agent_ids = {}
    for agent, (username, _secret) in agents.items():
        agent_ids[agent] = (await create_user(db_dsn, username, "operator")).id
    client = await start_client(config, clock)
    stack.push_async_callback(client.close)
    for agent, (_username, secret) in agents.items():
        await client.app[PHONES].set_agent(agent_ids[agent], agent, secret)
    return client, agent_ids


async def start_agent_phones(
    stack: contextlib.AsyncExitStack,
    asterisk: AsteriskInstance,
    workdir: Path,
    accounts: Mapping[str, SipAccount],
    prefix: str = "phone",
) -> dict[str, Softphone]:
    """A registered baresip per account (by the mapping's keys), each in
    ``workdir/<prefix>-<endpoint>``; ``stack`` stops them."""
    registrar = ("127.0.0.1", asterisk.settings.sip_port)
    phones = {
        key: Softphone(workdir / f"{prefix}-{a.name}", a.name, a.secret, registrar)
        for key, a in accounts.items()
    }
    for phone in phones.values():
        stack.push_async_callback(phone.stop)
    await asyncio.gather(*(p.start() for p in phones.values()))
    return phones


async def connect_ami(stack: contextlib.AsyncExitStack, asterisk: AsteriskInstance) -> RawAmi:
    """A raw AMI session with every event, closed by ``stack``."""
    ami = await RawAmi.connect(asterisk)
    stack.push_async_callback(ami.close)
    return ami


# ---- waiting -------------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float) -> Any:
    """Poll state another task or process changes until ``check()`` is truthy; its
    result. Fails the test with ``what`` after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


async def no_calls(ami: RawAmi, timeout_s: float = 30.0) -> None:
    """Until no call is live in the Asterisk of ``ami``."""

    async def idle() -> bool:
        response = await ami.send({"Action": "Command", "Command": "core show channels count"})
        return "0 active channels" in response.get("Output", "")

    await until(idle, "no call live in Asterisk", timeout_s)


async def set_available(
    pool: asyncpg.Pool, runtime: RoutingRuntime, user_ids: list[int], available: bool
) -> None:
    async with pool.acquire() as conn:
        for user_id in user_ids:
            await runtime.service.set_agent_status(
                conn, user_id, "available" if available else "offline"
            )


# ---- scripted callers ----------------------------------------------------------------


async def dial_ivr(
    ami: RawAmi,
    number: str,
    caller_id: str,
    *,
    talk: bool = False,
    where: Callable[[AmiMessage], bool] = lambda _e: True,
    timeout_s: float = 20.0,
) -> AmiMessage:
    """A robot caller (the dialplan's ``caller-robot``, holding two minutes; ``talk``:
    sending music all along) dials ``number`` into the IVR. Returns the IVR side's
    first AGIExecStart that also matches ``where``."""
    response = await ami.send(
        {
            "Action": "Originate",
            "Channel": f"Local/{number}@ivr-in",
            "Context": "caller-robot",
            "Exten": "s",
            "Priority": "1",
            "CallerID": caller_id,
            "Variable": "ROBOT_HOLD=120" + (",ROBOT_TALK=default" if talk else ""),
            "Async": "true",
        }
    )
    assert response["Response"] == "Success", response
    return await ami.wait_event(
        lambda e: (
            e.get("Event") == "AGIExecStart"
            and e.get("Channel", "").startswith(f"Local/{number}@ivr-in-")
            and e.get("Channel", "").endswith(";2")
            and where(e)
        ),
        timeout_s=timeout_s,
    )


def robot_side(ivr_channel: str) -> str:
    """The robot's half of the Local pair whose IVR half is ``ivr_channel``."""
    return ivr_channel[: -len(";2")] + ";1"


async def press(ami: RawAmi, robot_channel: str, digit: str) -> None:
    """The robot sends ``digit`` (RFC 4733, 120 ms)."""
    response = await ami.send(
        {"Action": "PlayDTMF", "Channel": robot_channel, "Digit": digit, "Duration": "120"}
    )
    assert response["Response"] == "Success", response
