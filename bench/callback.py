"""Benchmark of the web callback: from a visitor's POST to the agent's phone ringing.

Real parts only: an embedded PostgreSQL, Switchboard's Asterisk 22 with its outbound
trunk to a second Asterisk playing the carrier (tests/harness/carrier.py), the server
(in this process, serving HTTP on a port of its own), baresip agents registered to
Switchboard's Asterisk and baresip visitors registered to the carrier.

Each worker owns one visitor's phone and posts requests one after the other while an
agent is available: ``POST /api/v1/callbacks``, then the agent's phone rings (measured:
from just before the POST is sent to this benchmark's own AMI connection receiving
``Newstate`` with ``ChannelStateDesc: Ringing`` for the agent's channel), the agent
answers, the visitor's phone answers by itself and hangs up when its second of tone
ends, and the request is completed before the worker posts the next.

Usage, from the repository root: ``.venv/bin/python bench/callback.py``. The last line
of stdout is JSON: ``{"requests": N, "post_to_agent_ring_p50_ms": A,
"post_to_agent_ring_p99_ms": B}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from the repository root: the packages are importable from there.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from asterisk_conf.instance import allocate_port_block  # noqa: E402
from asterisk_conf.render import SipAccount  # noqa: E402
from bench._stats import percentile  # noqa: E402
from pbx.ami import AmiMessage  # noqa: E402
from pbx.ami.client import AmiClient  # noqa: E402
from routing.keys import ROUTING  # noqa: E402
from routing.models import AgentProfile  # noqa: E402
from routing.settings import DepartmentSettings  # noqa: E402
from server.app import create_app  # noqa: E402
from server.auth.services import UserService  # noqa: E402
from server.config import load_config  # noqa: E402
from server.db import EmbeddedPostgres, migrate  # noqa: E402
from server.keys import PHONES, POOL  # noqa: E402
from tests.harness.carrier import start_asterisk_with_trunk, start_carrier  # noqa: E402
from tests.harness.softphone import Softphone, tone_wav  # noqa: E402

AGENTS = tuple(f"13{i:02d}" for i in range(1, 5))
ACCOUNTS = tuple(SipAccount(a, f"secret-{a}-bench") for a in AGENTS)
# One visitor per worker; as many workers as agents, so an agent is free for each POST.
VISITORS = tuple(f"49309018{50 + i}" for i in range(len(AGENTS)))
REQUESTS_PER_WORKER = 15
SITE = "bench-shop"
ORIGIN = "http://bench.example"
RING_TIMEOUT_S = 20.0
COMPLETE_TIMEOUT_S = 60.0

log = logging.getLogger("bench.callback")


class RingWatch:
    """This benchmark's AMI view: when each agent's channel starts ringing, and for
    which visitor (the caller ID the server gives the agent's channel)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[float, str]]] = {}

    def expect(self, phone: str) -> asyncio.Future[tuple[float, str]]:
        future: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
        self._waiting[phone] = future
        return future

    def on_event(self, message: AmiMessage) -> None:
        if message.event != "Newstate" or message.get("ChannelStateDesc") != "Ringing":
            return
        at = time.monotonic()
        channel = message.get("Channel", "")
        if not channel.startswith("PJSIP/13"):
            return
        # The agent's channel, Dialled by the callback's Local pair, shows the visitor
        # as its connected line.
        phone = message.get("ConnectedLineNum", "")
        if phone not in self._waiting:
            phone = message.get("CallerIDNum", "")
        future = self._waiting.pop(phone, None)
        if future is not None and not future.done():
            future.set_result((at, channel))


async def set_up(app: web.Application) -> int:
    pool = app[POOL]
    users = UserService(pool)
    routing = app[ROUTING]
    async with pool.acquire() as conn:
        view = await routing.admin.create_department(conn, "callbacks", DepartmentSettings())
    for account in ACCOUNTS:
        user = await users.create(f"agent{account.name}", "bench-password-1", "operator")
        await app[PHONES].set_agent(user.id, account.name, account.secret)
        async with pool.acquire() as conn:
            await routing.admin.set_agent_profile(
                conn, user.id, AgentProfile(departments=frozenset({view.department.id}))
            )
            await routing.service.set_agent_status(conn, user.id, "available")
    return view.department.id


async def worker(
    base: str,
    http: aiohttp.ClientSession,
    watch: RingWatch,
    agents: dict[str, Softphone],
    visitor: str,
    rings: list[float],
) -> None:
    phone = f"+{visitor}"
    for _ in range(REQUESTS_PER_WORKER):
        ring = watch.expect(phone)
        started = time.monotonic()
        async with http.post(
            f"{base}/api/v1/callbacks?site={SITE}",
            json={"phone": phone, "name": "Bench visitor"},
            headers={"Origin": ORIGIN},
        ) as response:
            body = await response.json()
            if response.status != 201:
                raise RuntimeError(f"POST refused: {response.status} {body}")
        at, channel = await asyncio.wait_for(ring, RING_TIMEOUT_S)
        rings.append((at - started) * 1000)
        endpoint = channel.removeprefix("PJSIP/").rpartition("-")[0]
        await agents[endpoint].accept()
        await wait_completed(base, http, body["id"])


async def wait_completed(base: str, http: aiohttp.ClientSession, request_id: str) -> None:
    async with asyncio.timeout(COMPLETE_TIMEOUT_S):
        while True:
            async with http.get(f"{base}/api/v1/callbacks/{request_id}") as response:
                status = (await response.json())["status"]
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"request {request_id} ended {status}")
            await asyncio.sleep(0.05)


async def bench(root: Path, dsn: str) -> dict[str, Any]:
    await migrate(dsn)
    agi_port = allocate_port_block(1)
    carrier = await start_carrier(root / "carrier", VISITORS)
    asterisk = await start_asterisk_with_trunk(root / "pbx", carrier, ACCOUNTS, agi_port=agi_port)
    settings = asterisk.settings
    phones: list[Softphone] = []
    runner: web.AppRunner | None = None
    ami: AmiClient | None = None
    try:
        config = load_config(environ={})
        ami_section = {
            "host": settings.bind_address,
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
        }
        config = config.replace(
            server={"data_dir": str(root / "data"), "secret_key": "bench-secret-key-" + "x" * 16},
            database={"url": dsn, "pool_min": 2, "pool_max": 20},
            ami=ami_section,
            agi={"port": agi_port},
            timers={"offer_timeout_s": 30.0, "ring_timeout_s": 25.0, "wrapup_s": 0.0},
            # Callbacks are recorded like every answered call: MixMonitor writes inside
            # the Asterisk's instance directory, which the server sees at the same path.
            recording={"transcribe": False, "spool_dir": str(root / "pbx" / "recordings")},
            callback={
                "sites": [
                    {
                        "key": SITE,
                        "origins": [ORIGIN],
                        "countries": ["DE"],
                        "department_id": 1,
                    }
                ],
                "ip_limit": 100_000,
                "number_limit": 100_000,
            },
        )
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        port = allocate_port_block(1)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        department = await set_up(runner.app)
        assert department == 1, department
        registrar = ("127.0.0.1", settings.sip_port)
        agents = {
            a.name: Softphone(root / f"agent-{a.name}", a.name, a.secret, registrar)
            for a in ACCOUNTS
        }
        tone = tone_wav(root / "tone.wav", seconds=1)
        visitors = [
            carrier.visitor_phone(root / f"visitor-{v}", v, answer_mode="auto", audio_in=tone)
            for v in VISITORS
        ]
        phones = [*agents.values(), *visitors]
        await asyncio.gather(*(p.start() for p in phones))
        watch = RingWatch()
        ami = AmiClient(load_config(environ={}).replace(ami=ami_section).ami)
        ami.subscribe(watch.on_event)
        await ami.start()
        await ami.wait_connected(10)
        print(
            f"asterisk {asterisk.install!r} with a carrier; {len(AGENTS)} agents, "
            f"{len(VISITORS)} visitors, {REQUESTS_PER_WORKER} requests each; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        rings: list[float] = []
        started = time.monotonic()
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(worker(base, http, watch, agents, v, rings) for v in VISITORS))
        print(
            f"{len(rings)} callbacks completed in {time.monotonic() - started:.1f} s; "
            f"post-to-ring max {max(rings):.1f} ms; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        return {
            "requests": len(rings),
            "post_to_agent_ring_p50_ms": percentile(rings, 50),
            "post_to_agent_ring_p99_ms": percentile(rings, 99),
        }
    finally:
        if ami is not None:
            await ami.close()
        for phone in phones:
            await phone.stop()
        if runner is not None:
            await runner.cleanup()
        await asterisk.stop()
        await carrier.stop()


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="callback-bench-") as tmp:
        root = Path(tmp)
        postgres = EmbeddedPostgres(root / "postgres")
        dsn = await asyncio.to_thread(postgres.start)
        try:
            summary = await bench(root, dsn)
        finally:
            await asyncio.to_thread(postgres.stop)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
