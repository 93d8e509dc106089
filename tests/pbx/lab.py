"""A real Asterisk 22 with three baresip agents, for the pbx integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from asterisk_conf.instance import AsteriskInstance, allocate_instance_ports, layout_for
from asterisk_conf.provision import Installation, find_system_asterisk, provision
from asterisk_conf.render import AsteriskSettings, SipAccount
from server.config import AmiConfig
from tests.pbx.softphone import Softphone

AGENTS = ("1001", "1002", "1003")
AMI_USER = "switchboard"
AMI_SECRET = "pbx-test-secret"


def installation() -> Installation:
    return find_system_asterisk() or provision()


def make_instance(install: Installation, workdir: Path) -> AsteriskInstance:
    ports = allocate_instance_ports()
    settings = AsteriskSettings(
        bind_address="127.0.0.1",
        sip_port=ports.sip,
        rtp_start=ports.rtp_start,
        rtp_end=ports.rtp_end,
        http_port=ports.http,
        ami_port=ports.ami,
        ami_username=AMI_USER,
        ami_secret=AMI_SECRET,
        agi_host="127.0.0.1",
        # Nothing listens here: the IVR falls back to ringing every agent.
        agi_port=ports.http + 1,
        inbound_number="500",
        layout=layout_for(install, workdir / "asterisk"),
        accounts=tuple(SipAccount(a, f"secret-{a}", caller_name=f"Agent {a}") for a in AGENTS),
        ring_timeout_s=6,
    )
    return AsteriskInstance(install, workdir / "asterisk", settings)


def ami_config(instance: AsteriskInstance, **overrides: float) -> AmiConfig:
    values: dict[str, object] = {
        "port": instance.settings.ami_port,
        "username": AMI_USER,
        "secret": AMI_SECRET,
        "ping_interval_s": 1.0,
        "ping_timeout_s": 1.0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
        "connect_timeout_s": 2.0,
        **overrides,
    }
    return AmiConfig.model_validate(values)


def tone(path: Path) -> Path:
    """8 kHz mono 16-bit WAV, what baresip's aufile plays."""
    if not path.exists():
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "60", "sine",
             "440", "vol", "0.1"],
            check=True,
        )  # fmt: skip
    return path


async def registered(instance: AsteriskInstance, agents: tuple[str, ...]) -> None:
    """Wait until Asterisk has a contact for every agent's phone."""
    async with asyncio.timeout(15):
        while True:
            contacts = await instance.cli("pjsip show contacts")
            if all(f"Contact:  {a}/sip:" in contacts for a in agents):
                return
            await asyncio.sleep(0.2)


Lab = tuple[AsteriskInstance, dict[str, Softphone]]


@contextlib.asynccontextmanager
async def running_lab(workdir: Path) -> AsyncIterator[Lab]:
    instance = make_instance(installation(), workdir)
    await instance.start()
    phones: dict[str, Softphone] = {}
    try:
        audio = tone(workdir / "tone.wav")
        for agent in AGENTS:
            phones[agent] = Softphone(
                agent, f"secret-{agent}", instance.settings.sip_port, workdir, audio
            )
        await asyncio.gather(*(p.start() for p in phones.values()))
        await registered(instance, AGENTS)
        yield instance, phones
    finally:
        await asyncio.gather(*(p.stop() for p in phones.values()), return_exceptions=True)
        await instance.stop()
