"""The workspace's voice lab: the world of world.py on a real Asterisk 22 with the IVR,
Olga's and Oleg's baresip softphones (world.ENDPOINTS), and scripted callers who dial the
company's number and press 1 for the support department. With a carrier
(tests/harness/carrier.py), the company's Asterisk has its trunk for outside numbers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asterisk_conf.instance import AsteriskInstance, allocate_port_block
from asterisk_conf.render import SipAccount
from ivr.keys import IVR
from tests.app_helpers import make_config
from tests.harness.asterisk import AmiMessage, RawAmi, installation_for_tests, settings_for_tests
from tests.harness.carrier import CarrierInstance
from tests.harness.softphone import Softphone
from tests.workspace.world import ENDPOINTS, TIMERS, World, build_world, world_config

NUMBER = "500"


@dataclass
class VoiceWorld:
    world: World
    asterisk: AsteriskInstance
    ami: RawAmi
    phones: dict[str, Softphone]

    async def menus_to_support(self) -> None:
        await self.world.app[IVR].menus.put(
            NUMBER,
            {
                "greeting": "sound:beep",
                "menus": {
                    "main": {
                        "prompt": "sound:beep",
                        "timeout_s": 3,
                        "options": {
                            "1": {"type": "department", "department_id": self.world.department_id}
                        },
                    }
                },
            },
        )

    async def call(self, caller: str, name: str = "Caller") -> str:
        """A caller dials the company and presses 1; returns the call's id (Linkedid)."""
        response = await self.ami.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{NUMBER}@ivr-in",
                "Context": "caller-robot",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f"{name} <{caller}>",
                "Variable": "ROBOT_HOLD=120",
                "Async": "true",
            }
        )
        assert response["Response"] == "Success", response
        start = await self.ami.wait_event(
            lambda e: (
                e.get("Event") == "AGIExecStart"
                and e.get("Channel", "").startswith(f"Local/{NUMBER}@ivr-in-")
                and e.get("Channel", "").endswith(";2")
                and e.get("Command", "").startswith("WAIT FOR DIGIT")
            ),
            timeout_s=20,
        )
        robot = start["Channel"][: -len(";2")] + ";1"
        answer = await self.ami.send(
            {"Action": "PlayDTMF", "Channel": robot, "Digit": "1", "Duration": "120"}
        )
        assert answer["Response"] == "Success", answer
        return start["Linkedid"]

    async def ringing(self, endpoint: str, timeout_s: float = 20) -> AmiMessage:
        """Asterisk's word that the endpoint's phone rings."""
        return await self.ami.wait_event(
            lambda e: (
                e.get("Event") == "Newstate"
                and e.get("ChannelStateDesc") == "Ringing"
                and e.get("Channel", "").startswith(f"PJSIP/{endpoint}-")
            ),
            timeout_s=timeout_s,
        )

    async def settle(self) -> None:
        """Until no call is live in Asterisk."""
        async with asyncio.timeout(30):
            while True:
                response = await self.ami.send(
                    {"Action": "Command", "Command": "core show channels count"}
                )
                if "0 active channels" in response.get("Output", ""):
                    return
                await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_voice_world(
    workdir: Path, db_dsn: str, *, carrier: CarrierInstance | None = None, **config: Any
) -> AsyncIterator[VoiceWorld]:
    agi_port = allocate_port_block(1)
    data_dir = workdir / "data"
    install = await asyncio.to_thread(installation_for_tests)
    accounts = [SipAccount(e, f"secret-{e}-x") for e in ENDPOINTS.values()]
    settings = settings_for_tests(install, data_dir / "asterisk", accounts, agi_port=agi_port)
    if carrier is not None:
        trunk = carrier.trunk()
        settings = dataclasses.replace(settings, trunk=trunk)
        config.setdefault("trunk", {"host": trunk.host, "port": trunk.port})
    asterisk = AsteriskInstance(install, data_dir / "asterisk", settings)
    await asterisk.start()
    stack = contextlib.AsyncExitStack()
    try:
        stack.push_async_callback(asterisk.stop)
        base = make_config(
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
        ).replace(agi={"port": agi_port})
        full = world_config(
            db_dsn,
            data_dir,
            base,
            ivr={"external_dial": "PJSIP/{digits}"},
            **config,
        )
        world = await build_world(db_dsn, data_dir, config=full)
        stack.push_async_callback(world.client.close)
        stack.push_async_callback(world.close_clients)
        ami = await RawAmi.connect(asterisk)
        stack.push_async_callback(ami.close)
        registrar = ("127.0.0.1", settings.sip_port)
        phones = {
            user: Softphone(
                workdir / f"phone-{endpoint}", endpoint, f"secret-{endpoint}-x", registrar
            )
            for user, endpoint in ENDPOINTS.items()
        }
        for phone in phones.values():
            stack.push_async_callback(phone.stop)
        await asyncio.gather(*(p.start() for p in phones.values()))
        voice = VoiceWorld(world, asterisk, ami, phones)
        await voice.menus_to_support()
        yield voice
    finally:
        await stack.aclose()
