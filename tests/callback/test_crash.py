"""Requests survive a server crash: the server (``switchboard serve``, a process of its
own) is killed with SIGKILL while it dials one visitor and two more requests wait; the
call goes on in Asterisk and ends while no server runs; a new server process finds
the attempt's result in Asterisk's database, settles it, and serves the others. Every
request ends exactly once, and no visitor is dialled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from asterisk_conf.instance import allocate_port_block
from routing.keys import ROUTING
from routing.models import AgentProfile
from routing.settings import DepartmentSettings
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, make_config, start_client
from tests.harness.asterisk import RawAmi
from tests.harness.carrier import start_asterisk_with_trunk, start_carrier
from tests.harness.softphone import Softphone, tone_wav
from tests.harness.voice_lab import ami_section

from .lab import ACCOUNTS, ORIGIN, SITE, TIMERS, VISITORS

pytestmark = pytest.mark.asterisk

SWITCHBOARD = Path(sys.executable).with_name("switchboard")


def _toml_value(value: Any) -> str:
    # JSON's strings, numbers, booleans and lists are TOML's too.
    return json.dumps(value)


def write_toml(path: Path, sections: dict[str, dict[str, Any]], sites: list[dict]) -> None:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    for site in sites:
        lines.append("[[callback.sites]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in site.items()]
    path.write_text("\n".join(lines) + "\n")


class ServerProcess:
    def __init__(self, config_path: Path, port: int, log: Path) -> None:
        self.config_path = config_path
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "SWITCHBOARD_CONFIG": str(self.config_path)}
        env.pop("DATABASE_URL", None)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(SWITCHBOARD), "serve", env=env, stdout=out, stderr=out
            )
        async with asyncio.timeout(60), aiohttp.ClientSession() as session:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(self.log.read_text()[-3000:])
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as response:
                        health = await response.json()
                        if response.status == 200 and health["checks"]["ami"]["up"]:
                            return
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait(self) -> None:
        if self.process is not None:
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(20):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, db_dsn: str
) -> AsyncIterator[dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("crash")
    agi_port = allocate_port_block(1)
    http_port = allocate_port_block(1)
    async with contextlib.AsyncExitStack() as stack:
        carrier = await start_carrier(tmp_path / "carrier", VISITORS[:4])
        stack.push_async_callback(carrier.stop)
        asterisk = await start_asterisk_with_trunk(
            tmp_path / "pbx", carrier, ACCOUNTS[:1], agi_port=agi_port
        )
        stack.push_async_callback(asterisk.stop)
        settings = asterisk.settings
        base = make_config(db_dsn, tmp_path / "data")
        # Agents, department and statuses, set once through a short-lived app.
        user = await create_user(db_dsn, "crash-agent", "operator")
        setup = await start_client(base)
        try:
            await setup.app[PHONES].set_agent(user.id, ACCOUNTS[0].name, ACCOUNTS[0].secret)
            runtime = setup.app[ROUTING]
            async with setup.app[POOL].acquire() as conn:
                view = await runtime.admin.create_department(conn, "Sales", DepartmentSettings())
                await runtime.admin.set_agent_profile(
                    conn, user.id, AgentProfile(departments=frozenset({view.department.id}))
                )
                await runtime.service.set_agent_status(conn, user.id, "available")
        finally:
            await setup.close()
        config_path = tmp_path / "switchboard.toml"
        write_toml(
            config_path,
            {
                "server": {
                    "port": http_port,
                    "data_dir": str(tmp_path / "data"),
                    "secret_key": "crash-test-secret-key-0123456789",
                },
                "database": {"url": db_dsn},
                "ami": ami_section(settings),
                "agi": {"port": agi_port},
                "asterisk": {"mode": "external"},
                "timers": TIMERS,
                "recording": {"transcribe": False},
                "logging": {"level": "INFO"},
                "callback": {"visitor_ring_s": 60, "poll_interval_s": 0.2},
            },
            [
                {
                    "key": SITE,
                    "origins": [ORIGIN],
                    "countries": ["DE"],
                    "department_id": view.department.id,
                }
            ],
        )
        registrar = ("127.0.0.1", settings.sip_port)
        agent = Softphone(
            tmp_path / "agent", ACCOUNTS[0].name, ACCOUNTS[0].secret, registrar,
            answer_mode="auto",
        )  # fmt: skip
        stack.push_async_callback(agent.stop)
        # The first visitor answers when the test says; the others answer at once and
        # hang up when their two seconds of tone end (baresip does at the end of its file).
        short = tone_wav(tmp_path / "short.wav", seconds=2)
        visitors = [carrier.visitor_phone(tmp_path / "v0", VISITORS[0], answer_mode="manual")]
        visitors += [
            carrier.visitor_phone(tmp_path / f"v{i}", n, answer_mode="auto", audio_in=short)
            for i, n in enumerate(VISITORS[1:3], start=1)
        ]
        # The last visitor answers only when the test says, after the restart.
        visitors.append(carrier.visitor_phone(tmp_path / "v3", VISITORS[3], answer_mode="manual"))
        for phone in visitors:
            stack.push_async_callback(phone.stop)
        await asyncio.gather(agent.start(), *(p.start() for p in visitors))
        ami = await RawAmi.connect(asterisk)
        stack.push_async_callback(ami.close)
        yield {
            "config": config_path,
            "port": http_port,
            "agent": agent,
            "visitors": visitors,
            "ami": ami,
            "dsn": db_dsn,
            "log": tmp_path / "server.log",
        }


async def _post(url: str, phone: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}/api/v1/callbacks?site={SITE}", json={"phone": phone}, headers={"Origin": ORIGIN}
        ) as response:
            assert response.status == 201, await response.text()
            return await response.json()


async def _rows(dsn: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT id::text, phone, status, outcome, attempts FROM callback_requests"
            " ORDER BY created_at"
        )
    finally:
        await conn.close()


async def test_a_server_killed_while_dialling_settles_every_request_once_after_restart(
    stack: dict[str, Any],
) -> None:
    first = ServerProcess(stack["config"], stack["port"], stack["log"])
    await first.start()
    try:
        requests = [await _post(first.url, f"+{n}") for n in VISITORS[:3]]
        visitor0 = stack["visitors"][0]
        # The agent answered (auto) and the first visitor's phone rings: dialling.
        await visitor0.wait_for("CALL_INCOMING", timeout_s=20)
        first.kill()
        await first.wait()
    finally:
        await first.stop()

    # No server: the visitor answers, talks, hangs up; Asterisk alone sees the end.
    await visitor0.accept()
    await visitor0.wait_for("CALL_ESTABLISHED", timeout_s=10)
    await visitor0.hangup()
    await visitor0.wait_for("CALL_CLOSED", timeout_s=10)
    rows = await _rows(stack["dsn"])
    assert [r["status"] for r in rows] == ["calling", "queued", "queued"]

    second = ServerProcess(stack["config"], stack["port"], stack["log"])
    await second.start()
    try:
        async with asyncio.timeout(60):
            while True:
                rows = await _rows(stack["dsn"])
                if all(r["status"] not in ("queued", "scheduled", "calling") for r in rows):
                    break
                await asyncio.sleep(0.2)
    finally:
        await second.stop()

    assert [r["id"] for r in rows] == [r["id"] for r in requests]
    assert [(r["status"], r["outcome"], r["attempts"]) for r in rows] == [
        ("completed", "answered", 1)
    ] * 3
    # Each visitor was called once, never twice (phones that answer by themselves
    # report the call as established only).
    for phone in stack["visitors"][:3]:
        calls = [e for e in phone.events if e.type in ("CALL_INCOMING", "CALL_ESTABLISHED")]
        assert len({e.call_id for e in calls}) == 1, (phone.user, calls)
    import asyncpg

    conn = await asyncpg.connect(stack["dsn"])
    try:
        attempts = await conn.fetch("SELECT request_id::text, result FROM callback_attempts")
        finished = await conn.fetchval(
            """SELECT count(*) FROM timeline_entries
               WHERE source = 'callback' AND source_ref LIKE '%:finished'"""
        )
    finally:
        await conn.close()
    assert sorted(a["result"] for a in attempts) == ["ANSWER"] * 3
    assert len({a["request_id"] for a in attempts}) == 3
    assert finished == 3
    # The first attempt's end was read back from Asterisk's database by the new process.
    assert "callback attempt recovered" in stack["log"].read_text()


async def test_a_call_still_up_after_the_restart_is_left_alone_and_settled_at_its_end(
    stack: dict[str, Any],
) -> None:
    visitor = stack["visitors"][3]
    log = stack["log"]
    first = ServerProcess(stack["config"], stack["port"], log)
    await first.start()
    try:
        request = await _post(first.url, f"+{VISITORS[3]}")
        await visitor.wait_for("CALL_INCOMING", timeout_s=20)
        first.kill()
        await first.wait()
    finally:
        await first.stop()
    seen_before = log.read_text().count("callback attempt still up")
    second = ServerProcess(stack["config"], stack["port"], log)
    await second.start()
    try:
        # The new process looks, finds the agent's leg still dialling, and waits.
        async with asyncio.timeout(20):
            while True:
                if log.read_text().count("callback attempt still up") > seen_before:
                    break
                await asyncio.sleep(0.1)
        rows = {r["id"]: r for r in await _rows(stack["dsn"])}
        assert rows[request["id"]]["status"] == "calling"
        await visitor.accept()
        await visitor.wait_for("CALL_ESTABLISHED", timeout_s=10)
        # The visitor answered: the Local channel that dialled them is optimised away,
        # and the conversation goes on between the agent's phone and the trunk. The
        # process keeps looking and keeps finding the call up.
        talking = log.read_text().count("callback attempt still up")
        async with asyncio.timeout(20):
            while True:
                if log.read_text().count("callback attempt still up") >= talking + 2:
                    break
                await asyncio.sleep(0.1)
        rows = {r["id"]: r for r in await _rows(stack["dsn"])}
        assert rows[request["id"]]["status"] == "calling"
        await visitor.hangup()
        async with asyncio.timeout(20):
            while True:
                row = {r["id"]: r for r in await _rows(stack["dsn"])}[request["id"]]
                if row["status"] != "calling":
                    break
                await asyncio.sleep(0.1)
    finally:
        await second.stop()
    assert (row["status"], row["outcome"], row["attempts"]) == ("completed", "answered", 1)
    assert len([e for e in visitor.events if e.type == "CALL_INCOMING"]) == 1
