"""Benchmark of the operator workspace: the screen-pop, and web chat at 1,000 sockets.

Screen-pop: at least 100 real calls on a real Asterisk 22 through the IVR to agents with
baresip softphones that ring (never answered: the caller hangs up once the card is in).
Measured per call: from the server receiving Asterisk's AMI ``Newstate`` Ringing for the
agent's channel (timed by an AMI handler inside the server) to a WebSocket client logged
in as that agent receiving the complete card — customer name, number and the last 5
timeline entries (every caller is a known customer with a history).

Chat: 1,000 visitor sockets and 50 operator sockets in a second process (so that the
clients do not share the server's event loop); the department accepts chats
automatically. After every conversation is with an operator, each visitor sends a
message every 5 s (each stored before it is acknowledged) for the measured period.
Measured per message: from the visitor's send to the operator's socket receiving it.

Usage, from the repository root: ``.venv/bin/python bench/screen_pop.py``. It brings up
an embedded PostgreSQL and an Asterisk of its own, prints its setup and per-phase
results, and a JSON summary on the last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from the repository root: the packages are importable from there.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from asterisk_conf.render import SipAccount  # noqa: E402
from bench._callers import NUMBER, Callers, Stack, call_stack, ivr_menu  # noqa: E402
from bench._stats import percentile  # noqa: E402
from crm_connectors.keys import CUSTOMERS  # noqa: E402
from ivr.keys import IVR  # noqa: E402
from routing.keys import ROUTING  # noqa: E402
from routing.models import AgentProfile  # noqa: E402
from routing.settings import DepartmentSettings  # noqa: E402
from server.auth.services import UserService  # noqa: E402
from server.keys import AMI, PHONES, POOL  # noqa: E402
from tests.harness.softphone import Softphone  # noqa: E402
from text_channels.keys import TEXT_CHANNELS  # noqa: E402

PASSWORD = "bench-password-1"
VOICE_AGENTS = tuple(f"12{i:02d}" for i in range(1, 5))
CALLS = 120
CALLERS_PER_AGENT = 8
TIMELINE_PER_CALLER = 6
CARD_TIMEOUT_S = 20.0
CHAT_OPERATORS = 50
CHAT_VISITORS = 1000
CHAT_PERIOD_S = 5.0
CHAT_MEASURE_S = 60.0
SITE_KEY = "bench-site-0001"
SITE_ORIGIN = "http://bench.example"

log = logging.getLogger("bench.screen_pop")


# --- clients shared by both phases ------------------------------------------------------


async def login(http: aiohttp.ClientSession, base: str, username: str) -> None:
    async with http.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"login {username}: {response.status} {await response.text()}")


async def operator_socket(
    http: aiohttp.ClientSession, base: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{base}/api/v1/ws", headers={"Origin": base}, heartbeat=30)
    hello = await ws.receive_json()
    assert hello["type"] == "hello", hello
    return ws


# --- phase 1: screen-pop -----------------------------------------------------------------


class Cards:
    """The cards the voice agents' pages receive, by caller number, with when."""

    def __init__(self) -> None:
        self._cards: dict[str, tuple[float, dict[str, Any]]] = {}
        self._changed = asyncio.Condition()

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            received = time.monotonic()
            item = json.loads(message.data)
            if item.get("type") == "screen_pop":
                async with self._changed:
                    self._cards[item["data"]["number"]] = (received, item["data"])
                    self._changed.notify_all()

    async def wait(self, number: str) -> tuple[float, dict[str, Any]] | None:
        try:
            async with asyncio.timeout(CARD_TIMEOUT_S), self._changed:
                await self._changed.wait_for(lambda: number in self._cards)
                return self._cards.pop(number)
        except TimeoutError:
            return None


def complete(card: dict[str, Any], name: str, number: str) -> bool:
    return (
        card["customer"]["name"] == name and card["number"] == number and len(card["timeline"]) == 5
    )


async def screen_pop_phase(stack: Stack) -> dict[str, Any]:
    app, base = stack.app, stack.base
    ring_at: dict[str, float] = {}

    def on_ami(event: Any) -> None:
        # Inside the server, beside the call tracker: when Asterisk's word arrived.
        if (
            event.get("Event") == "Newstate"
            and event.get("ChannelStateDesc") == "Ringing"
            and event.get("Channel", "").startswith("PJSIP/12")
        ):
            ring_at.setdefault(event.get("Linkedid", ""), time.monotonic())

    unsubscribe = app[AMI].subscribe(on_ami)
    callers = await Callers.connect(stack.asterisk.settings)
    sessions = []
    cards = Cards()
    readers = []
    try:
        for endpoint in VOICE_AGENTS:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(http)
            await login(http, base, f"voice{endpoint}")
            readers.append(asyncio.create_task(cards.read(await operator_socket(http, base))))
        latencies: list[float] = []
        failures = 0
        lock = asyncio.Lock()
        counter = iter(range(CALLS))

        async def lane(lane_no: int) -> None:
            nonlocal failures
            for n in counter:
                number = caller_number(lane_no, n % CALLERS_PER_AGENT)
                name = caller_name(lane_no, n % CALLERS_PER_AGENT)
                answer = await asyncio.wait_for(callers.call(f"{name} <{number}>", hold_s=60), 30)
                if answer.get("Response") != "Success":
                    failures += 1
                    continue
                card = await cards.wait(number)
                if card is None or card[1]["call_id"] not in ring_at:
                    failures += 1
                else:
                    received, data = card
                    if complete(data, name, number):
                        async with lock:
                            latencies.append((received - ring_at[data["call_id"]]) * 1000)
                    else:
                        failures += 1
                robot = callers.robots.pop(number, None)
                if robot is not None:
                    await callers.ami.send({"Action": "Hangup", "Channel": robot, "Cause": "16"})
                if card is not None:
                    await until_gone(app, card[1]["call_id"])

        await asyncio.gather(*(lane(i) for i in range(len(VOICE_AGENTS))))
    finally:
        unsubscribe()
        for task in readers:
            task.cancel()
        for http in sessions:
            await http.close()
        await callers.close()
    result = {
        "calls": len(latencies),
        "failed_calls": failures,
        "screen_pop_p50_ms": percentile(latencies, 50),
        "screen_pop_p99_ms": percentile(latencies, 99),
        "screen_pop_max_ms": round(max(latencies), 2) if latencies else None,
        "screen_pop_mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
    }
    print(json.dumps({"phase": "screen_pop", **result}), flush=True)
    return result


def caller_number(lane: int, n: int) -> str:
    return f"+7916{lane:02d}{n:05d}"


def caller_name(lane: int, n: int) -> str:
    return f"Caller {lane}-{n}"


async def until_gone(app: web.Application, call_id: str) -> None:
    """Until the IVR is done with the call (the agent is free for the next one)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while True:
                if app[IVR].calls.get(call_id) is None:
                    return
                await asyncio.sleep(0.05)


# --- phase 2: chat at 1,000 sockets (the clients run in a process of their own) --------------


async def chat_phase(base: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--chat-clients",
        base,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = [line async for line in process.stdout if line.strip()]
    await process.wait()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"chat clients failed with {process.returncode}")
    # Their progress lines, then their results as the last line.
    sys.stdout.write(b"".join(lines[:-1]).decode())
    return json.loads(lines[-1])


@dataclass
class Visitor:
    index: int
    ws: aiohttp.ClientWebSocketResponse | None = None
    connected_all_along: bool = True
    acked: int = 0
    refused: int = 0


async def chat_clients(base: str) -> dict[str, Any]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    accepted: set[int] = set()
    all_accepted = asyncio.Event()
    measuring = False
    connector = aiohttp.TCPConnector(limit=0)
    operators_http = [
        aiohttp.ClientSession(
            connector=connector, connector_owner=False, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        for _ in range(CHAT_OPERATORS)
    ]
    visitors_http = aiohttp.ClientSession(connector=connector, connector_owner=False)
    tasks: list[asyncio.Task[Any]] = []

    async def operator_reader(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            received = time.monotonic()
            item = json.loads(message.data)
            kind = item.get("type")
            if kind == "chat_message" and item["data"]["direction"] == "in":
                at = sent.pop(item["data"]["text"], None)
                if at is not None and measuring:
                    latencies.append((received - at) * 1000)
            elif kind == "offer_accepted":
                accepted.add(item["data"]["interaction_id"])
                if len(accepted) >= CHAT_VISITORS:
                    all_accepted.set()

    async def visitor_reader(visitor: Visitor) -> None:
        assert visitor.ws is not None
        async for message in visitor.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data.get("type") == "ack":
                visitor.acked += 1
            elif data.get("type") == "error":
                visitor.refused += 1
        visitor.connected_all_along = False

    try:
        semaphore = asyncio.Semaphore(10)

        async def start_operator(i: int) -> None:
            async with semaphore:
                await login(operators_http[i], base, f"chat{i:03d}")
                ws = await operator_socket(operators_http[i], base)
            tasks.append(asyncio.create_task(operator_reader(ws)))

        await asyncio.gather(*(start_operator(i) for i in range(CHAT_OPERATORS)))
        print(f"chat: {CHAT_OPERATORS} operator sockets open", flush=True)

        visitors = [Visitor(i) for i in range(CHAT_VISITORS)]
        opening = asyncio.Semaphore(50)

        async def start_visitor(visitor: Visitor) -> None:
            async with opening:
                ws = await visitors_http.ws_connect(
                    f"{base}/api/v1/webchat/ws?site={SITE_KEY}",
                    headers={"Origin": SITE_ORIGIN},
                    heartbeat=30,
                )
                await ws.send_json({"type": "hello", "token": None, "after": 0})
                welcome = await ws.receive_json()
                assert welcome["type"] == "welcome", welcome
                visitor.ws = ws
                await ws.send_json({"type": "message", "ref": "hello", "text": "hello"})
                ack = await ws.receive_json()
                assert ack["type"] == "ack", ack
            tasks.append(asyncio.create_task(visitor_reader(visitor)))

        started = time.monotonic()
        await asyncio.gather(*(start_visitor(v) for v in visitors))
        print(
            f"chat: {CHAT_VISITORS} visitor sockets open, first messages stored in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        await asyncio.wait_for(all_accepted.wait(), 180)
        print(f"chat: all {len(accepted)} conversations with operators", flush=True)
        for visitor in visitors:
            visitor.connected_all_along = visitor.ws is not None and not visitor.ws.closed
        measuring = True
        messages = 0
        started_at = time.monotonic()

        async def talk(visitor: Visitor) -> None:
            nonlocal messages
            assert visitor.ws is not None
            await asyncio.sleep(CHAT_PERIOD_S * visitor.index / CHAT_VISITORS)
            end = started_at + CHAT_MEASURE_S
            k = 0
            while time.monotonic() < end and not visitor.ws.closed:
                text = f"m {visitor.index} {k}"
                sent[text] = time.monotonic()
                await visitor.ws.send_json({"type": "message", "ref": f"r{k}", "text": text})
                messages += 1
                k += 1
                await asyncio.sleep(CHAT_PERIOD_S)

        await asyncio.gather(*(talk(v) for v in visitors))
        # The last messages' way to the operators.
        await asyncio.sleep(2.0)
        measuring = False
        stayed = sum(1 for v in visitors if v.connected_all_along)
        lost = len(sent)
        result = {
            "chat_sockets": stayed,
            "chat_messages": messages,
            "chat_msg_received": len(latencies),
            "chat_msg_lost": lost,
            "chat_acked": sum(v.acked for v in visitors),
            "chat_refused": sum(v.refused for v in visitors),
            "chat_msg_p50_ms": percentile(latencies, 50),
            "chat_msg_p99_ms": percentile(latencies, 99),
            "chat_msg_max_ms": round(max(latencies), 2) if latencies else None,
        }
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for http in operators_http:
            await http.close()
        await visitors_http.close()
        await connector.close()


# --- set-up ------------------------------------------------------------------------------------


async def set_up(app: web.Application) -> None:
    pool = app[POOL]
    users = UserService(pool)
    routing = app[ROUTING]
    store = app[CUSTOMERS].store
    async with pool.acquire() as conn:
        voice = await routing.admin.create_department(conn, "voice")
        chat = await routing.admin.create_department(
            conn, "chat", DepartmentSettings(auto_accept=frozenset({"webchat"}))
        )
    for endpoint in VOICE_AGENTS:
        user = await users.create(f"voice{endpoint}", PASSWORD, "operator")
        await app[PHONES].set_agent(user.id, endpoint, f"secret-{endpoint}-x")
        async with pool.acquire() as conn:
            await routing.admin.set_agent_profile(
                conn, user.id, AgentProfile(departments=frozenset({voice.department.id}))
            )
            await routing.service.set_agent_status(conn, user.id, "available")
    for i in range(CHAT_OPERATORS):
        user = await users.create(f"chat{i:03d}", PASSWORD, "operator")
        await app[PHONES].set_agent(user.id, f"chat{i:03d}", secrets.token_urlsafe(12))
        async with pool.acquire() as conn:
            await routing.admin.set_agent_profile(
                conn,
                user.id,
                AgentProfile(capacity=2000, departments=frozenset({chat.department.id})),
            )
            await routing.service.set_agent_status(conn, user.id, "available")
    async with pool.acquire() as conn:
        for lane in range(len(VOICE_AGENTS)):
            for n in range(CALLERS_PER_AGENT):
                customer = await store.resolve_customer(
                    conn, "phone", caller_number(lane, n), caller_name(lane, n)
                )
                for k in range(TIMELINE_PER_CALLER):
                    await store.add_timeline_entry(
                        conn,
                        customer.id,
                        "note",
                        source="bench",
                        source_ref=f"{customer.id}:{k}",
                        summary=f"Earlier contact {k}",
                    )
    await app[IVR].menus.put(NUMBER, ivr_menu(voice.department.id))
    await app[TEXT_CHANNELS].sites.put(SITE_KEY, "Bench", chat.department.id, [SITE_ORIGIN], None)


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    accounts = tuple(SipAccount(e, f"secret-{e}-x") for e in VOICE_AGENTS)
    timers = {"offer_timeout_s": 30.0, "ring_timeout_s": 25.0}
    async with call_stack("screen-pop-bench-", timers=timers, accounts=accounts) as stack:
        await set_up(stack.app)
        registrar = ("127.0.0.1", stack.asterisk.settings.sip_port)
        phones = [
            Softphone(stack.root / f"phone-{e}", e, f"secret-{e}-x", registrar)
            for e in VOICE_AGENTS
        ]
        try:
            await asyncio.gather(*(p.start() for p in phones))
            print(
                f"asterisk {stack.asterisk.install!r}; {len(VOICE_AGENTS)} ringing agents, "
                f"{CALLS} calls; chat {CHAT_VISITORS} visitors, {CHAT_OPERATORS} operators, "
                f"one message per {CHAT_PERIOD_S:.0f} s each for {CHAT_MEASURE_S:.0f} s",
                flush=True,
            )
            pops = await screen_pop_phase(stack)
            chat = await chat_phase(stack.base)
            print(json.dumps({"phase": "chat", **chat}), flush=True)
        finally:
            for phone in phones:
                await phone.stop()
    summary = {
        "calls": pops["calls"],
        "screen_pop_p50_ms": pops["screen_pop_p50_ms"],
        "screen_pop_p99_ms": pops["screen_pop_p99_ms"],
        "chat_sockets": chat["chat_sockets"],
        "chat_messages": chat["chat_messages"],
        "chat_msg_p99_ms": chat["chat_msg_p99_ms"],
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--chat-clients":
        # The chat phase's clients, started by the benchmark itself.
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        print(json.dumps(asyncio.run(chat_clients(sys.argv[2]))), flush=True)
        sys.exit(0)
    sys.exit(asyncio.run(main()))
