"""IVR load benchmark: N scripted callers through the IVR of a real Asterisk 22.

Brings up its own PostgreSQL (``server.db.EmbeddedPostgres``), Asterisk (the host's or
the provisioned Debian sid one) and the server (the real app, in this process). Each
round starts N callers — Local channels running the caller robot — within
``START_WINDOW_S`` seconds; each hears the greeting and the menu, presses 1 the moment
the IVR reads a digit (AMI ``PlayDTMF`` once ``AGIExecStart`` of ``WAIT FOR DIGIT`` is
seen), and waits in the department's queue with music and announcements. Once all N
are queued (so N are in the IVR at once) they hang up, and every call must be in the
journal as abandoned in the queue: anything else is a failed call. Rounds grow from
50 until one fails or the last round size; the largest clean round is reported.

Measured on the server: the AGI round trip of commands that play no media (from
writing the command to reading its result) and answer-to-queue (from the caller's menu
digit to the interaction committed to the queue).

The last line printed is JSON: ``{"concurrent_calls": N, "agi_rtt_p50_ms": A,
"agi_rtt_p99_ms": B, "answer_to_queue_p99_ms": C, "failed_calls": F}``.

Usage, from the repository root: ``.venv/bin/python bench/ivr_load.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on the path, where bench/routing.py would shadow
# the routing package.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import secrets  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from asterisk_conf.instance import (  # noqa: E402
    AsteriskInstance,
    allocate_instance_ports,
    allocate_port_block,
    layout_for,
)
from asterisk_conf.provision import find_system_asterisk, provision  # noqa: E402
from asterisk_conf.render import AsteriskSettings  # noqa: E402
from ivr.keys import IVR  # noqa: E402
from routing.keys import ROUTING  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import load_config  # noqa: E402
from server.db import EmbeddedPostgres, migrate  # noqa: E402
from server.keys import POOL  # noqa: E402

ROUNDS = (50, 100, 150, 200, 300, 400, 500, 600)
START_WINDOW_S = 4.0
# How long a round may take to get every caller queued, and to clear afterwards.
QUEUE_TIMEOUT_S = 90.0
CLEAR_TIMEOUT_S = 90.0
NUMBER = "500"


@dataclass
class Round:
    size: int
    prefix: str
    started: int = 0
    refused: int = 0
    digits: int = 0
    ivr_channels: set[str] = field(default_factory=set)
    pressed: set[str] = field(default_factory=set)


class Driver:
    """The callers' side: an AMI session that sees only AGI events (light to read)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = 0
        self._responses: dict[str, asyncio.Future[dict[str, str]]] = {}
        self.round: Round | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, settings: AsteriskSettings) -> Driver:
        reader, writer = await asyncio.open_connection(settings.bind_address, settings.ami_port)
        await reader.readline()
        driver = cls(reader, writer)
        driver._task = asyncio.create_task(driver._read_loop())
        answer = await driver.send(
            {
                "Action": "Login",
                "Username": settings.ami_username,
                "Secret": settings.ami_secret,
                "Events": "agi",
            }
        )
        if answer.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {answer}")
        return driver

    def post(self, action: dict[str, str]) -> asyncio.Future[dict[str, str]]:
        self._ids += 1
        action_id = f"b{self._ids}"
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        text = "".join(f"{k}: {v}\r\n" for k, v in {**action, "ActionID": action_id}.items())
        self._writer.write(text.encode() + b"\r\n")
        return future

    async def send(self, action: dict[str, str], timeout_s: float = 30.0) -> dict[str, str]:
        return await asyncio.wait_for(self.post(action), timeout_s)

    async def close(self) -> None:
        self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._task

    async def _read_loop(self) -> None:
        while True:
            block = await self._reader.readuntil(b"\r\n\r\n")
            message: dict[str, str] = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep:
                    message[key] = value
            future = self._responses.pop(message.get("ActionID", ""), None)
            if "Response" in message and future is not None and not future.done():
                future.set_result(message)
            elif message.get("Event") == "AGIExecStart":
                self._agi_command(message)

    def _agi_command(self, event: dict[str, str]) -> None:
        current = self.round
        channel = event.get("Channel", "")
        if current is None or not channel.startswith(f"Local/{NUMBER}@ivr-in-"):
            return
        current.ivr_channels.add(channel)
        # The first digit read is the menu's; later ones are the queue's, where the caller
        # presses nothing.
        if event.get("Command", "").startswith("WAIT FOR DIGIT") and channel not in current.pressed:
            current.pressed.add(channel)
            current.digits += 1
            robot = channel[: -len(";2")] + ";1"
            self.post({"Action": "PlayDTMF", "Channel": robot, "Digit": "1", "Duration": "100"})


def menus(department_id: int) -> dict[str, Any]:
    return {
        "greeting": "sound:beep",
        "menus": {
            "main": {
                "prompt": "sound:beep",
                "timeout_s": 10,
                "options": {"1": {"type": "department", "department_id": department_id}},
            }
        },
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def until(check: Callable[[], Any], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def run_round(
    size: int, driver: Driver, app: web.Application, pool: asyncpg.Pool
) -> dict[str, Any]:
    ivr = app[IVR]
    ivr.stats.agi_rtt_ms.clear()
    ivr.stats.answer_to_queue_ms.clear()
    current = Round(size, prefix=f"+7916{size:03d}")
    driver.round = current
    originates = []
    for i in range(size):
        originates.append(
            driver.post(
                {
                    "Action": "Originate",
                    "Channel": f"Local/{NUMBER}@ivr-in",
                    "Context": "caller-robot",
                    "Exten": "s",
                    "Priority": "1",
                    "CallerID": f"Caller <{current.prefix}{i:04d}>",
                    "Variable": "ROBOT_HOLD=600",
                    "Async": "true",
                }
            )
        )
        # Spread evenly over the start window: a crowd, not one burst of AMI actions.
        await asyncio.sleep(START_WINDOW_S / size)
    answers = await asyncio.gather(*originates)
    current.refused = sum(a.get("Response") != "Success" for a in answers)

    async def all_queued() -> bool:
        return len(ivr.stats.answer_to_queue_ms) >= size - current.refused

    queued = await until(all_queued, QUEUE_TIMEOUT_S)
    in_ivr = len(ivr.calls)
    rtt, to_queue = ivr.stats.agi_rtt_ms, ivr.stats.answer_to_queue_ms
    measured = {
        "agi_commands_timed": len(rtt),
        "agi_rtt_p50_ms": _ms(rtt.percentile(50)),
        "agi_rtt_p99_ms": _ms(rtt.percentile(99)),
        "answer_to_queue_p50_ms": _ms(to_queue.percentile(50)),
        "answer_to_queue_p99_ms": _ms(to_queue.percentile(99)),
    }
    # Everyone hangs up.
    await driver.send(
        {"Action": "Hangup", "Channel": f"/^Local\\/{NUMBER}@ivr-in-.*;1$/", "Cause": "16"}
    )

    async def cleared() -> bool:
        async with pool.acquire() as conn:
            open_calls = await conn.fetchval(
                "SELECT count(*) FROM ivr_calls WHERE caller_number LIKE $1 || '%' "
                "AND outcome IS NULL",
                current.prefix,
            )
        return open_calls == 0 and len(ivr.calls) == 0

    await until(cleared, CLEAR_TIMEOUT_S)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT coalesce(outcome, 'open') AS outcome, count(*) AS n FROM ivr_calls "
            "WHERE caller_number LIKE $1 || '%' GROUP BY 1",
            current.prefix,
        )
    outcomes = {r["outcome"]: r["n"] for r in rows}
    driver.round = None
    failed = size - outcomes.get("abandoned_in_queue", 0)
    return {
        "size": size,
        "queued_in_time": queued,
        "in_ivr_at_once": in_ivr,
        "refused_originates": current.refused,
        "digits_sent": current.digits,
        **measured,
        # Every call should be abandoned_in_queue; the others (and those the IVR never
        # saw) are the failed ones.
        "outcomes": outcomes,
        "failed_calls": failed,
    }


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        root = Path(tmp)
        postgres = EmbeddedPostgres(root / "postgres")
        dsn = await asyncio.to_thread(postgres.start)
        try:
            return await bench(root, dsn)
        finally:
            await asyncio.to_thread(postgres.stop)


async def bench(root: Path, dsn: str) -> int:
    await migrate(dsn)
    install = await asyncio.to_thread(lambda: find_system_asterisk() or provision())
    data_dir = root / "data"
    instance_dir = data_dir / "asterisk"
    ports = allocate_instance_ports()
    agi_port = allocate_port_block(1)
    settings = AsteriskSettings(
        bind_address="127.0.0.1",
        sip_port=ports.sip,
        rtp_start=ports.rtp_start,
        rtp_end=ports.rtp_end,
        http_port=ports.http,
        ami_port=ports.ami,
        ami_username="switchboard",
        ami_secret=secrets.token_urlsafe(16),
        agi_host="127.0.0.1",
        agi_port=agi_port,
        inbound_number=NUMBER,
        layout=layout_for(install, instance_dir),
    )
    asterisk = AsteriskInstance(install, instance_dir, settings)
    await asterisk.start()
    config = load_config(environ={}).replace(
        server={"data_dir": str(data_dir), "secret_key": "bench-secret-key-" + "x" * 16},
        database={"url": dsn, "pool_min": 2, "pool_max": 20},
        ami={
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
        },
        agi={"port": agi_port},
        timers={"announce_period_s": 5.0},
        recording={"transcribe": False},
    )
    runner = web.AppRunner(create_app(config))
    driver: Driver | None = None
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        app = runner.app
        pool = app[POOL]
        async with pool.acquire() as conn:
            view = await app[ROUTING].admin.create_department(conn, "bench")
        await app[IVR].menus.put(NUMBER, menus(view.department.id))
        driver = await Driver.connect(settings)
        print(f"asterisk {install!r}, 2 cores; rounds {ROUNDS}", flush=True)
        best: dict[str, Any] | None = None
        first: dict[str, Any] | None = None
        for size in ROUNDS:
            result = await run_round(size, driver, app, pool)
            print(json.dumps(result), flush=True)
            first = first or result
            if result["failed_calls"]:
                break
            best = result
        chosen = best or first
        assert chosen is not None
        print(
            json.dumps(
                {
                    "concurrent_calls": chosen["size"],
                    "agi_rtt_p50_ms": chosen["agi_rtt_p50_ms"],
                    "agi_rtt_p99_ms": chosen["agi_rtt_p99_ms"],
                    "answer_to_queue_p99_ms": chosen["answer_to_queue_p99_ms"],
                    "failed_calls": chosen["failed_calls"],
                }
            ),
            flush=True,
        )
        return 0
    finally:
        if driver is not None:
            await driver.close()
        await runner.cleanup()
        await asterisk.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
