"""A small contact center for the workspace and web chat tests: the real app on a real
PostgreSQL, a department with two agents, a supervisor and an admin, a web chat site,
and clients for operators (their own cookie sessions) and site visitors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from routing.keys import ROUTING
from routing.models import AgentProfile
from routing.settings import DepartmentSettings
from server.config import Config
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, make_config, start_client
from text_channels.config import TextChannelsConfig
from text_channels.keys import TEXT_CHANNELS
from workspace.config import WorkspaceConfig

PASSWORD = "correct-horse-1"
SITE_ORIGIN = "http://shop.example"
SITE_KEY = "shop-site-key-1"
TIMERS = {"offer_timeout_s": 30.0, "offer_sweep_interval_s": 0.2, "wrapup_s": 2.0}
Message = dict[str, Any]
# Agents' softphones. Oleg's is no number: internal calls and transfers reach any
# endpoint name server/phones.py accepts.
ENDPOINTS = {"olga": "1101", "oleg": "oleg.desk-2"}
# Small enough to hit in a test.
TEXT_LIMITS = {"max_text_chars": 500, "max_file_bytes": 32 * 1024, "rate_burst": 5}


class WorldConfig(Config):
    """The server's configuration with the sections these features will have."""

    text_channels: TextChannelsConfig = TextChannelsConfig()
    workspace: WorkspaceConfig = WorkspaceConfig()


def world_config(
    db_dsn: str, data_dir: Path, base: Config | None = None, **sections: Any
) -> WorldConfig:
    base = base or make_config(db_dsn, data_dir, timers=TIMERS)
    sections.setdefault("text_channels", TEXT_LIMITS)
    return WorldConfig.model_validate({**base.model_dump(), **sections})


class Inbox:
    """What a socket received, and waiting for what it will."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Condition()

    async def add(self, message: Message) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def wait_for(
        self, check: Callable[[Message], bool], timeout_s: float = 10.0, *, start: int = 0
    ) -> Message:
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                for message in self.messages[start:]:
                    if check(message):
                        return message
                await self._changed.wait()

    def of_type(self, kind: str) -> list[Message]:
        return [m for m in self.messages if m.get("type") == kind]


@dataclass
class Socket:
    ws: aiohttp.ClientWebSocketResponse
    inbox: Inbox = field(default_factory=Inbox)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> Socket:
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await self.inbox.add(json.loads(message.data))

    async def send(self, data: Message) -> None:
        await self.ws.send_json(data)

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def items(self) -> list[Message]:
        """Stream items (with a sequence number), in the order received."""
        return [m for m in self.inbox.messages if "seq" in m and m.get("type") != "hello"]


class Operator:
    """A logged-in user with a cookie session of their own."""

    def __init__(self, client: TestClient, username: str, user_id: int) -> None:
        self.client = client
        self.username = username
        self.id = user_id
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    @property
    def origin(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def login(self) -> Operator:
        async with self.http.post(
            self.url("/api/v1/auth/login"), json={"username": self.username, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]
        return self

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.http.request(
            method, self.url(path), json=body, headers=headers, **kwargs
        ) as response:
            body = await response.read()
            try:
                return response.status, json.loads(body)
            except ValueError:
                return response.status, body

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status < 300, (status, data)
        return data

    async def socket(self, since: int | None = None) -> Socket:
        query = "" if since is None else f"?since={since}"
        ws = await self.http.ws_connect(
            self.url("/api/v1/ws" + query), headers={"Origin": self.origin}
        )
        socket = Socket(ws).start()
        await socket.inbox.wait_for(lambda m: m.get("type") == "hello")
        return socket

    async def offer(self, check: Callable[[Message], bool] = lambda _o: True) -> Message:
        """The first open offer (with its card) that passes ``check``, once there is one."""
        async with asyncio.timeout(10):
            while True:
                state = await self.ok("GET", "/api/v1/workspace/state")
                offers = [o for o in state["offers"] if check(o)]
                if offers:
                    return offers[0]
                await asyncio.sleep(0.05)

    async def available(self) -> None:
        await self.ok("PUT", "/api/v1/workspace/status", {"status": "available"})

    async def close(self) -> None:
        await self.http.close()


class Visitor:
    """A site visitor's widget: its socket, speaking the widget's protocol."""

    _refs = itertools.count(1)

    def __init__(self, client: TestClient, site_key: str = SITE_KEY, origin: str = SITE_ORIGIN):
        self.client = client
        self.site_key = site_key
        self.origin = origin
        self.http = aiohttp.ClientSession()
        self.token: str | None = None
        self.socket: Socket | None = None
        self.welcome: Message = {}

    async def connect(self, after: int = 0) -> Message:
        ws = await self.http.ws_connect(
            self.client.make_url(f"/api/v1/webchat/ws?site={self.site_key}"),
            headers={"Origin": self.origin},
        )
        self.socket = Socket(ws).start()
        await self.socket.send({"type": "hello", "token": self.token, "after": after})
        self.welcome = await self.socket.inbox.wait_for(
            lambda m: m["type"] in ("welcome", "blocked")
        )
        self.token = self.welcome.get("token", self.token)
        return self.welcome

    @property
    def inbox(self) -> Inbox:
        assert self.socket is not None
        return self.socket.inbox

    async def say(self, text: str, **extra: Any) -> Message:
        """Send a message; returns the server's ack or error for it."""
        ref = f"v{next(self._refs)}"
        assert self.socket is not None
        await self.socket.send({"type": "message", "ref": ref, "text": text, **extra})
        return await self.inbox.wait_for(
            lambda m: m.get("ref") == ref and m["type"] in ("ack", "error")
        )

    async def disconnect(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None

    async def close(self) -> None:
        await self.disconnect()
        await self.http.close()


@dataclass
class World:
    client: TestClient
    department_id: int
    users: dict[str, int]
    operators: list[Operator] = field(default_factory=list)
    visitors: list[Visitor] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.client.app

    async def operator(self, username: str) -> Operator:
        operator = await Operator(self.client, username, self.users[username]).login()
        self.operators.append(operator)
        return operator

    def visitor(self, **kwargs: Any) -> Visitor:
        visitor = Visitor(self.client, **kwargs)
        self.visitors.append(visitor)
        return visitor

    async def status(self, username: str, status: str) -> None:
        async with self.app[POOL].acquire() as conn:
            await self.app[ROUTING].service.set_agent_status(conn, self.users[username], status)

    async def close_clients(self) -> None:
        for visitor in self.visitors:
            await visitor.close()
        for operator in self.operators:
            await operator.close()

    async def close_all_chats(self) -> None:
        """End every open conversation, so agents start the next test with room."""
        async with self.app[POOL].acquire() as conn:
            rows = await conn.fetch("SELECT id FROM conversations WHERE state = 'open'")
        for row in rows:
            await self.app[TEXT_CHANNELS].conversations.close(row["id"], "system")

    async def until_free(self, username: str, timeout_s: float = 15.0) -> None:
        """Until the agent holds nothing (a call's wrap-up runs out on its own)."""
        async with asyncio.timeout(timeout_s):
            while True:
                async with self.app[POOL].acquire() as conn:
                    held = await conn.fetchval(
                        """SELECT count(*) FROM interactions
                           WHERE agent_id = $1 AND state IN ('accepted', 'wrap_up')""",
                        self.users[username],
                    )
                if not held:
                    return
                await asyncio.sleep(0.1)

    async def interaction(self, interaction_id: int) -> Any:
        async with self.app[POOL].acquire() as conn:
            return await conn.fetchrow("SELECT * FROM interactions WHERE id = $1", interaction_id)


async def build_world(
    db_dsn: str, data_dir: Path, *, config: Config | None = None, **department: Any
) -> World:
    users = {}
    for name, role in (
        ("olga", "operator"),
        ("oleg", "operator"),
        ("sam", "supervisor"),
        ("ada", "admin"),
    ):
        users[name] = (await create_user(db_dsn, name, role, PASSWORD)).id
    client = await start_client(config or world_config(db_dsn, data_dir))
    app = client.app
    for name, endpoint in ENDPOINTS.items():
        await app[PHONES].set_agent(users[name], endpoint, f"secret-{endpoint}-x")
    routing = app[ROUTING]
    async with app[POOL].acquire() as conn:
        view = await routing.admin.create_department(
            conn, "support", DepartmentSettings(**department), supervisor_ids=[users["sam"]]
        )
        department_id = view.department.id
        for name in ("olga", "oleg"):
            await routing.admin.set_agent_profile(
                conn, users[name], AgentProfile(departments=frozenset({department_id}))
            )
    await app[TEXT_CHANNELS].sites.put(SITE_KEY, "Shop", department_id, [SITE_ORIGIN], None)
    return World(client, department_id, users)


@contextlib.asynccontextmanager
async def running_world(db_dsn: str, data_dir: Path, **kwargs: Any) -> AsyncIterator[World]:
    world = await build_world(db_dsn, data_dir, **kwargs)
    try:
        yield world
    finally:
        await world.close_clients()
        await world.client.close()
