"""The workspace's voice lab: the world of world.py on a real Asterisk 22 with the IVR,
Olga's and Oleg's baresip softphones (world.ENDPOINTS), and scripted callers who dial the
company's number and press 1 for the support department. With a carrier
(tests/harness/carrier.py), the company's Asterisk has its trunk for outside numbers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asterisk_conf.instance import AsteriskInstance, allocate_port_block
from asterisk_conf.render import SipAccount
from ivr.keys import IVR
from tests.harness.asterisk import AmiMessage, RawAmi, start_test_asterisk
from tests.harness.carrier import CarrierInstance, start_asterisk_with_trunk
from tests.harness.softphone import Softphone
from tests.harness.voice_lab import (
    connect_ami,
    dial_ivr,
    no_calls,
    press,
    robot_side,
    start_agent_phones,
    voice_config,
)
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
        start = await dial_ivr(
            self.ami,
            NUMBER,
            f"{name} <{caller}>",
            where=lambda e: e.get("Command", "").startswith("WAIT FOR DIGIT"),
        )
        await press(self.ami, robot_side(start["Channel"]), "1")
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
        await no_calls(self.ami)


@contextlib.asynccontextmanager
async def running_voice_world(
    workdir: Path, db_dsn: str, *, carrier: CarrierInstance | None = None, **config: Any
) -> AsyncIterator[VoiceWorld]:
    data_dir = workdir / "data"
    accounts = {u: SipAccount(e, f"secret-{e}-x") for u, e in ENDPOINTS.items()}
    instance_dir, agi_port = data_dir / "asterisk", allocate_port_block(1)
    if carrier is None:
        asterisk = await start_test_asterisk(instance_dir, accounts.values(), agi_port=agi_port)
    else:
        asterisk = await start_asterisk_with_trunk(
            instance_dir, carrier, accounts.values(), agi_port=agi_port
        )
        trunk = asterisk.settings.trunk
        assert trunk is not None
        config.setdefault("trunk", {"host": trunk.host, "port": trunk.port})
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(asterisk.stop)
        base = voice_config(db_dsn, data_dir, asterisk, TIMERS)
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
        ami = await connect_ami(stack, asterisk)
        phones = await start_agent_phones(stack, asterisk, workdir, accounts)
        voice = VoiceWorld(world, asterisk, ami, phones)
        await voice.menus_to_support()
        yield voice
