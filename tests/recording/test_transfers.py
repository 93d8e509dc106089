"""Recordings of calls that change hands, on a real Asterisk 22 with baresip phones:
a call transferred (blind, and attended) to another agent gets a second recording,
linked to the same call, with the customer still on the left and now the second agent
on the right; a click-to-call is recorded as an outbound call, customer left and
agent right, also when it is originated through a Local channel.

Every side plays its own tone: the caller 500 Hz, agent 1201 1000 Hz, agent 1202
800 Hz, the outside number (a phone that is no agent's) 500 Hz.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance
from asterisk_conf.render import SipAccount
from recording.access import Scope
from recording.events import RecordingLinked, RecordingStored
from recording.http import QUERIES
from recording.storage import LocalDirectoryStore
from server.keys import AMI, BUS, PHONES, POOL
from tests.app_helpers import create_user, make_config, start_client
from tests.harness.asterisk import start_test_asterisk
from tests.harness.softphone import Softphone, padded_wav, tone_wav
from tests.recording.tones import (
    DEADLINE_S,
    WINDOW_S,
    channel_samples,
    leg_seconds,
    rms,
    tone_power,
    until,
    windows,
)
from workspace.keys import WORKSPACE

pytestmark = pytest.mark.asterisk
CUSTOMER_HZ = 500
AGENT_HZ = {"1201": 1000, "1202": 800}
OUTSIDE = "79990001122"
ACCOUNTS = tuple(SipAccount(n, f"secret-{n}-phone") for n in (*AGENT_HZ, OUTSIDE))
# The scripted caller plays this long, then hangs up.
CALLER_S = 12.0


@dataclass
class Lab:
    client: TestClient
    asterisk: AsteriskInstance
    phones: dict[str, Softphone]
    caller_wav: Path
    store: LocalDirectoryStore

    @property
    def app(self) -> Any:
        return self.client.server.app

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app[POOL]


@pytest.fixture(scope="module")
async def lab(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    asterisk = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"), ACCOUNTS)
    settings = asterisk.settings
    # Seen at the same path by Asterisk (in its root) and by the server.
    shared = asterisk.instance_dir / "shared"
    shared.mkdir()
    data_dir = tmp_path_factory.mktemp("data")
    config = make_config(
        db_dsn,
        data_dir,
        ami={
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
            "ping_interval_s": 0.5,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
    ).replace(
        # Calls between two agents are not recorded here: a click-to-call that is
        # recorded was seen as the outbound call it is.
        recording={"spool_dir": str(shared / "spool"), "policy": {"internal": {"record": False}}},
        workspace={"dial_template": "PJSIP/{digits}"},
    )
    # AMI Atxfer types the target's digits into the transfer feature, which dials once
    # no longer extension can match. [agents] matches names of any length, so it
    # would wait out transferdigittimeout for more; here only the whole name matches.
    with (asterisk.etc_dir / "extensions.conf").open("a") as dialplan:
        dialplan.write(
            "\n[test-consult]\n" + "".join(f"exten => {n},1,Goto(agents,{n},1)\n" for n in AGENT_HZ)
        )
    client = await start_client(config)
    phones: dict[str, Softphone] = {}
    try:
        for endpoint in AGENT_HZ:
            user = await create_user(db_dsn, f"agent{endpoint}", "operator")
            await client.server.app[PHONES].set_agent(user.id, endpoint, f"secret-{endpoint}-phone")
        for account in ACCOUNTS:
            hz = AGENT_HZ.get(account.name, CUSTOMER_HZ)
            tone = tone_wav(shared / f"tone-{account.name}.wav", seconds=60, frequency=hz)
            phones[account.name] = Softphone(
                tmp_path_factory.mktemp(f"phone-{account.name}"),
                account.name,
                account.secret,
                ("127.0.0.1", settings.sip_port),
                answer_mode="auto",
                audio_in=padded_wav(tone, shared / f"in-{account.name}.wav", seconds=120),
            )
        await asyncio.gather(*(p.start(register_timeout_s=DEADLINE_S) for p in phones.values()))
        caller_wav = tone_wav(shared / "caller.wav", seconds=CALLER_S, frequency=CUSTOMER_HZ)
        await client.server.app[AMI].wait_connected(DEADLINE_S)
        await client.server.app[AMI].send_action("Command", {"Command": "dialplan reload"})
        store = LocalDirectoryStore(config.recording.storage_path(data_dir))
        yield Lab(client, asterisk, phones, caller_wav, store)
    finally:
        for phone in phones.values():
            await phone.stop()
        await client.close()
        await asterisk.stop()


async def call_in(lab: Lab, call_id: str, agent: str) -> None:
    """The scripted caller (a Local channel playing the caller's tone) rings ``agent``,
    who answers; ``call_id`` becomes the call's Linkedid."""
    await lab.app[AMI].originate(
        {
            "Channel": f"Local/{agent}@agents",
            "Context": "caller-robot",
            "Exten": "s",
            "Priority": "1",
            "ChannelId": call_id,
            "OtherChannelId": f"{call_id}-2",
            # A customer's number: without one the caller may take on the connected
            # line's (the agent's), and the call would look internal.
            "CallerID": "Customer <+79160000001>",
            "Variable": f"ROBOT_PLAY={lab.caller_wav.with_suffix('')},ROBOT_HOLD=0",
            "Timeout": str(int(DEADLINE_S * 1000)),
        },
        timeout=DEADLINE_S,
    )


async def recordings_of(lab: Lab, call_id: str) -> list[asyncpg.Record]:
    return await lab.pool.fetch("SELECT * FROM recordings WHERE call_id = $1 ORDER BY id", call_id)


async def recorded(lab: Lab, call_id: str, count: int, seconds: float = 1.5) -> asyncpg.Record:
    """The call's ``count``-th recording once its agent's leg holds ``seconds`` of audio."""

    async def check() -> asyncpg.Record | None:
        rows = await recordings_of(lab, call_id)
        if len(rows) >= count and leg_seconds(Path(rows[count - 1]["agent_leg"])) >= seconds:
            return rows[count - 1]
        return None

    return await until(check, f"recording {count} of {call_id}")


async def call_of(lab: Lab, endpoint: str) -> str | None:
    """The call id of the call ``endpoint``'s phone is talking in, if any."""
    channels = await lab.app[WORKSPACE].calls.channels(endpoint)
    return next((c["call_id"] for c in channels if c["state"] == "6" and c["bridge"]), None)


async def agent_channel(lab: Lab, endpoint: str) -> str:
    async def talking() -> str | None:
        channels = await lab.app[WORKSPACE].calls.channels(endpoint)
        return next((c["channel"] for c in channels if c["state"] == "6" and c["bridge"]), None)

    return await until(talking, f"{endpoint} in a call")


async def stored(queue: asyncio.Queue[RecordingStored], call_id: str, count: int) -> None:
    seen = 0
    async with asyncio.timeout(DEADLINE_S + CALLER_S):
        while seen < count:
            event = await queue.get()
            seen += event.call_id == call_id


def subscribe_stored(lab: Lab) -> tuple[asyncio.Queue[RecordingStored], Any]:
    queue: asyncio.Queue[RecordingStored] = asyncio.Queue()
    return queue, lab.app[BUS].subscribe(RecordingStored, queue.put_nowait)


HEARD, SILENT = 1000.0, 100.0


async def tones_of(lab: Lab, recording_id: int) -> list[tuple[int | None, int | None]]:
    """Per window, left and right: the strongest of the known tones, or None where
    that side is silent (and 0 where it is neither clearly heard nor silent)."""
    key = await lab.pool.fetchval("SELECT storage_key FROM recordings WHERE id = $1", recording_id)
    async with lab.store.local_path(key) as path:
        left = windows(await asyncio.to_thread(channel_samples, path, 0))
        right = windows(await asyncio.to_thread(channel_samples, path, 1))
    known = {CUSTOMER_HZ, *AGENT_HZ.values()}

    def tone(window: Any) -> int | None:
        level = rms(window)
        if level < SILENT:
            return None
        return max(known, key=lambda hz: tone_power(window, hz)) if level > HEARD else 0

    return [(tone(lw), tone(rw)) for lw, rw in zip(left, right, strict=True)]


async def sides(lab: Lab, recording_id: int) -> list[tuple[int, int]]:
    """The tones of the windows where both sides are heard."""
    return [(left, right) for left, right in await tones_of(lab, recording_id) if left and right]


def mostly(heard: list[tuple[int, int]], expected: tuple[int, int], seconds: float) -> None:
    """At least ``seconds`` of both sides heard, nearly all of it as ``expected`` (the
    windows where a tone starts or stops mix what came before)."""
    assert len(heard) * WINDOW_S >= seconds, (len(heard), heard[:5])
    wrong = [h for h in heard if h != expected]
    assert len(wrong) <= max(2, len(heard) // 20), (expected, wrong[:10], len(heard))


async def test_a_blind_transfer_records_the_second_agent_with_the_customer_on_the_left(
    lab: Lab,
) -> None:
    call_id = "sbtest-blind"
    queue, unsubscribe = subscribe_stored(lab)
    linked: list[RecordingLinked] = []
    unlink = lab.app[BUS].subscribe(RecordingLinked, linked.append)
    try:
        await call_in(lab, call_id, "1201")
        first = await recorded(lab, call_id, 1)
        # The operator's transfer control: AMI BlindTransfer of the agent's channel.
        await lab.app[WORKSPACE].calls.transfer("1201", agent_endpoint="1202")
        second = await recorded(lab, call_id, 2)
        await stored(queue, call_id, 2)
        await until(lambda: len([e for e in linked if e.call_id == call_id]) == 2, "both linked")
    finally:
        unsubscribe()
        unlink()
    rows = await recordings_of(lab, call_id)
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    assert {r["state"] for r in rows} == {"converted"}
    assert rows[0]["call_started_at"] == rows[1]["call_started_at"]
    call = await lab.pool.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    assert call["recording_id"] == first["id"], "the journal names the call's first"
    details = await lab.app[QUERIES].details(first["id"], Scope(everything=True))
    assert details.call_recording_ids == (first["id"], second["id"]), "and leads to the rest"
    mostly(await sides(lab, first["id"]), (CUSTOMER_HZ, AGENT_HZ["1201"]), 1.0)
    mostly(await sides(lab, second["id"]), (CUSTOMER_HZ, AGENT_HZ["1202"]), 3.0)
    # Together they hold the talk, less the moment the second phone took to answer.
    assert sum(r["duration_s"] for r in rows) == pytest.approx(call["talk_seconds"], abs=2.0)


async def test_an_attended_transfer_records_the_second_agent_from_the_handover(lab: Lab) -> None:
    call_id = "sbtest-attended"
    queue, unsubscribe = subscribe_stored(lab)
    ami = lab.app[AMI]
    try:
        await call_in(lab, call_id, "1201")
        first = await recorded(lab, call_id, 1)
        transferer = await agent_channel(lab, "1201")
        # The agent consults 1202 (the caller waits), then hangs up to hand over.
        await ami.send_action(
            "Atxfer", {"Channel": transferer, "Exten": "1202", "Context": "test-consult"}
        )
        await agent_channel(lab, "1202")
        assert len(await recordings_of(lab, call_id)) == 1, "the consultation is not a new one"
        # They talk a while (MixMonitor writes in blocks of about 2 s).
        leg = Path(first["agent_leg"])
        consulted_at = leg_seconds(leg)
        await until(lambda: leg_seconds(leg) >= consulted_at + 1.0, "the consultation")
        await ami.send_action("Hangup", {"Channel": transferer})
        second = await recorded(lab, call_id, 2)
        await stored(queue, call_id, 2)
    finally:
        unsubscribe()
    rows = await recordings_of(lab, call_id)
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    # Before the consultation the first agent talked to the caller; during it the
    # colleague is never taken for the customer (that side is silent); after the
    # handover the second agent talks to the caller, still on the left.
    before = (await sides(lab, first["id"]))[: int(1.0 / WINDOW_S)]
    mostly(before, (CUSTOMER_HZ, AGENT_HZ["1201"]), 0.8)
    first_tones = await tones_of(lab, first["id"])
    assert not [t for t in first_tones if t[0] == AGENT_HZ["1202"]], "colleague as customer"
    consulting = [t for t in first_tones if t == (None, AGENT_HZ["1201"])]
    assert len(consulting) * WINDOW_S >= 0.5, first_tones
    mostly(await sides(lab, second["id"]), (CUSTOMER_HZ, AGENT_HZ["1202"]), 3.0)


async def talk_then_hang_up(lab: Lab, call_id: str, seconds: float = 3.5) -> None:
    """Once the call's one recording holds ``seconds``, the number hangs up."""

    async def one_long_enough() -> bool:
        rows = await recordings_of(lab, call_id)
        return len(rows) == 1 and leg_seconds(Path(rows[0]["agent_leg"])) >= seconds

    await until(one_long_enough, f"the recording of {call_id}")
    await lab.phones[OUTSIDE].hangup()


async def test_a_click_to_call_is_recorded_as_outbound_with_the_number_on_the_left(
    lab: Lab,
) -> None:
    queue, unsubscribe = subscribe_stored(lab)
    try:
        # The operator's click-to-call control: their phone first, then the number.
        await lab.app[WORKSPACE].calls.dial("1201", number="+" + OUTSIDE)
        call_id = await until(partial(call_of, lab, OUTSIDE), "the number answering")
        await talk_then_hang_up(lab, call_id)
        await stored(queue, call_id, 1)
    finally:
        unsubscribe()
    (row,) = await recordings_of(lab, call_id)
    call = await lab.pool.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    assert call["direction"] == "outbound"
    mostly(await sides(lab, row["id"]), (CUSTOMER_HZ, AGENT_HZ["1201"]), 3.0)
    assert row["duration_s"] == pytest.approx(call["talk_seconds"], abs=1.0)


async def test_a_click_to_call_through_a_local_channel_is_recorded_from_the_number_s_answer(
    lab: Lab,
) -> None:
    call_id = "sbtest-click-local"
    queue, unsubscribe = subscribe_stored(lab)
    seen: list[tuple[str, str]] = []

    def note(msg: Any) -> None:
        # What Asterisk did to the agent's channel, and when the number answered.
        if msg.event in ("MixMonitorStart", "MixMonitorStop") and msg.get("Channel", "").startswith(
            "PJSIP/1201-"
        ):
            seen.append((msg.event, msg["Channel"]))
        elif msg.event == "DialEnd" and msg.get("DestChannel", "").startswith(f"PJSIP/{OUTSIDE}-"):
            seen.append((f"DialEnd {msg.get('DialStatus')}", msg["DestChannel"]))

    unsubscribe_ami = lab.app[AMI].subscribe(note)
    try:
        # The agent's phone through a Local channel, whose other half runs the dialplan
        # to the number once the agent answers: pbx sees the agent's phone answer first.
        await lab.app[AMI].originate(
            {
                "Channel": "Local/1201@agents",
                "ChannelId": call_id,
                "OtherChannelId": f"{call_id}-2",
                "Context": "agents",
                "Exten": OUTSIDE,
                "Priority": "1",
                "CallerID": f"{OUTSIDE} <{OUTSIDE}>",
                "Timeout": str(int(DEADLINE_S * 1000)),
            },
            timeout=DEADLINE_S,
        )
        await talk_then_hang_up(lab, call_id)
        await stored(queue, call_id, 1)
    finally:
        unsubscribe()
        unsubscribe_ami()
    (row,) = await recordings_of(lab, call_id)
    call = await lab.pool.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    assert call["direction"] == "outbound"
    mostly(await sides(lab, row["id"]), (CUSTOMER_HZ, AGENT_HZ["1201"]), 3.0)
    # The recording of the agent's phone answering was stopped, and the one kept began
    # once the number answered.
    # (Asterisk reports a stop asked for, not the end of a recording at the hang-up.)
    events = [event for event, _ in seen]
    assert events.count("MixMonitorStop") == 1, seen
    assert events[-2:] == ["MixMonitorStop", "MixMonitorStart"], seen
    assert events.index("DialEnd ANSWER") < len(events) - 1, seen
    assert row["duration_s"] == pytest.approx(call["talk_seconds"], abs=1.0)
