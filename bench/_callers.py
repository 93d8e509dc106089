"""What a call benchmark runs against, and its scripted callers.

:func:`call_stack` brings up, in a temporary directory, an embedded PostgreSQL
(migrated), a real Asterisk 22 as the tests start one (``tests.harness.asterisk``: the
host's or the provisioned Debian sid one, on free ports, AGI pointed at the server)
and the server (the real app, in this process, on a free port); it stops them in the
reverse order. The benchmark then configures departments, agents and the IVR menu of
``NUMBER`` (:func:`ivr_menu`: option 1 queues the caller to a department).

:class:`Callers` are the callers' side, on an AMI session of their own
(:class:`~bench._ami.BenchAmi`, AGI events only). :meth:`Callers.call` originates a
Local channel whose ``;2`` half dials ``NUMBER`` (the IVR) and whose ``;1`` half runs
the ``caller-robot`` context (asterisk_conf's extensions: answer, stay ``hold_s``,
hang up). Every caller presses 1 the moment the IVR waits for its menu digit: AMI
``PlayDTMF`` on the robot half once ``AGIExecStart`` of ``WAIT FOR DIGIT`` is seen (a
fixed pause would send it too early on a loaded machine). Later digit waits are the
queue's, where a caller presses nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from asterisk_conf.instance import AsteriskInstance, allocate_port_block
from asterisk_conf.render import AsteriskSettings, SipAccount
from bench._ami import BenchAmi
from pbx.ami import AmiMessage
from server.app import create_app
from server.config import load_config
from server.db import EmbeddedPostgres, migrate
from tests.harness.asterisk import start_test_asterisk

__all__ = ["NUMBER", "Callers", "Stack", "call_stack", "ivr_menu"]

NUMBER = "500"


@dataclass(frozen=True)
class Stack:
    root: Path
    """The run's temporary directory (PostgreSQL, the server's data, Asterisk's instance)."""
    asterisk: AsteriskInstance
    app: web.Application
    base: str
    """The server's HTTP address, ``http://127.0.0.1:PORT``."""


@asynccontextmanager
async def call_stack(
    prefix: str, *, timers: Mapping[str, float], accounts: Iterable[SipAccount] = ()
) -> AsyncIterator[Stack]:
    """PostgreSQL, Asterisk (with these SIP ``accounts``) and the server with these
    ``timers``, running; the temporary directory is named after ``prefix``."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        postgres = EmbeddedPostgres(root / "postgres")
        dsn = await asyncio.to_thread(postgres.start)
        try:
            await migrate(dsn)
            data_dir = root / "data"
            agi_port = allocate_port_block(1)
            asterisk = await start_test_asterisk(data_dir / "asterisk", accounts, agi_port=agi_port)
            try:
                settings = asterisk.settings
                config = load_config(environ={}).replace(
                    server={
                        "data_dir": str(data_dir),
                        "secret_key": "bench-secret-key-" + "x" * 16,
                    },
                    database={"url": dsn, "pool_min": 2, "pool_max": 20},
                    ami={
                        "port": settings.ami_port,
                        "username": settings.ami_username,
                        "secret": settings.ami_secret,
                    },
                    agi={"port": agi_port},
                    timers=dict(timers),
                    recording={"transcribe": False},
                )
                runner = web.AppRunner(create_app(config))
                try:
                    await runner.setup()
                    port = allocate_port_block(1)
                    await web.TCPSite(runner, "127.0.0.1", port).start()
                    yield Stack(root, asterisk, runner.app, f"http://127.0.0.1:{port}")
                finally:
                    await runner.cleanup()
            finally:
                await asterisk.stop()
        finally:
            await asyncio.to_thread(postgres.stop)


def ivr_menu(department_id: int) -> dict[str, Any]:
    """A greeting and one menu whose option 1 queues the caller to the department."""
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


class Callers:
    """Caller robots through the IVR of ``NUMBER``; each presses 1 in the menu."""

    def __init__(self) -> None:
        self._ami: BenchAmi | None = None
        self._pressed: set[str] = set()
        self.robots: dict[str, str] = {}
        """Caller number → the robot half (``;1``) of its channel, once it pressed 1."""

    @classmethod
    async def connect(cls, settings: AsteriskSettings) -> Callers:
        callers = cls()
        callers._ami = await BenchAmi.connect(settings, on_event=callers._on_event)
        return callers

    @property
    def ami(self) -> BenchAmi:
        """The callers' AMI session, for other actions (a ``Hangup``)."""
        if self._ami is None:
            raise RuntimeError("Callers.connect() first")
        return self._ami

    @property
    def pressed(self) -> int:
        """How many callers have pressed 1 so far."""
        return len(self._pressed)

    def call(self, caller_id: str, hold_s: int) -> asyncio.Future[AmiMessage]:
        """Originate one caller (``caller_id`` as ``Name <number>``), who stays on the line
        up to ``hold_s`` seconds; the future is Asterisk's response to the Originate."""
        return self.ami.post(
            {
                "Action": "Originate",
                "Channel": f"Local/{NUMBER}@ivr-in",
                "Context": "caller-robot",
                "Exten": "s",
                "Priority": "1",
                "CallerID": caller_id,
                "Variable": f"ROBOT_HOLD={hold_s}",
                "Async": "true",
            }
        )

    async def close(self) -> None:
        if self._ami is not None:
            await self._ami.close()

    def _on_event(self, event: AmiMessage) -> None:
        channel = event.get("Channel", "")
        if (
            event.event != "AGIExecStart"
            or not channel.startswith(f"Local/{NUMBER}@ivr-in-")
            or channel in self._pressed
            or not event.get("Command", "").startswith("WAIT FOR DIGIT")
        ):
            return
        self._pressed.add(channel)
        robot = channel[: -len(";2")] + ";1"
        self.robots[event.get("CallerIDNum", "")] = robot
        self.ami.post({"Action": "PlayDTMF", "Channel": robot, "Digit": "1", "Duration": "100"})
