"""Recording a real call: a real Asterisk 22, a baresip agent that auto-answers playing
a 1000 Hz tone, and a scripted caller (a Local channel) playing a 500 Hz tone. The
stored stereo file must hold the caller on the left and the agent on the right, last
as long as the talk, and be silent where the operator paused it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance
from recording.events import RecordingLinked, RecordingStored
from routing.events import OfferMade
from server.keys import AMI, BUS, POOL
from tests.app_helpers import create_user, login, make_config, start_client
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

CALLER_HZ, AGENT_HZ = 500, 1000
AGENT, OTHER = "1201", "1202"
# Seconds of the call each side plays; the caller hangs up when theirs ends.
CALLER_S = 6.0
PAUSE_AFTER_S, PAUSED_FOR_S = 1.5, 1.5


@dataclass
class Live:
    client: TestClient
    asterisk: AsteriskInstance
    phone: Softphone
    tokens: dict[str, str]
    caller_wav: Path


@pytest.fixture(scope="module")
async def live(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    asterisk = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"))
    settings = asterisk.settings
    # Files that Asterisk (in its root) and the server both see: the instance directory
    # is bind-mounted at its own path.
    shared = asterisk.instance_dir / "shared"
    shared.mkdir()
    config = make_config(
        db_dsn,
        tmp_path_factory.mktemp("data"),
        ami={
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
            "ping_interval_s": 0.5,
            "ping_timeout_s": 1.0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
        asterisk={"mode": "external", "etc_dir": str(asterisk.etc_dir)},
    ).replace(
        recording={
            "spool_dir": str(shared / "spool"),
            "department_policy": {9: {"inbound": {"record": False}}},
        }
    )
    for name, role in (("root", "admin"), ("oleg", "operator"), ("nina", "operator")):
        await create_user(db_dsn, name, role)
    client = await start_client(config)
    phone = None
    try:
        csrf = await login(client, "root")
        users = await (await client.get("/api/v1/users")).json()
        ids = {u["username"]: u["id"] for u in users}
        for name, endpoint in (("oleg", AGENT), ("nina", OTHER)):
            made = await client.put(
                f"/api/v1/users/{ids[name]}/agent",
                json={"sip_endpoint": endpoint, "sip_secret": f"secret-{endpoint}-phone"},
                headers={"X-CSRF-Token": csrf},
            )
            assert made.status == 200, await made.text()
        tokens = {}
        for name in ("oleg", "nina", "root"):
            csrf = await login(client, name)
            made = await client.post(
                "/api/v1/auth/tokens", json={"name": "test"}, headers={"X-CSRF-Token": csrf}
            )
            tokens[name] = (await made.json())["token"]
        agent_tone = tone_wav(shared / "agent-tone.wav", seconds=CALLER_S + 4, frequency=AGENT_HZ)
        phone = Softphone(
            tmp_path_factory.mktemp("phone"),
            AGENT,
            f"secret-{AGENT}-phone",
            ("127.0.0.1", settings.sip_port),
            answer_mode="auto",
            audio_in=padded_wav(agent_tone, shared / "agent.wav", seconds=120),
        )
        await phone.start(register_timeout_s=DEADLINE_S)
        caller_wav = tone_wav(shared / "caller.wav", seconds=CALLER_S, frequency=CALLER_HZ)
        await client.server.app[AMI].wait_connected(DEADLINE_S)
        yield Live(client, asterisk, phone, tokens, caller_wav)
    finally:
        if phone is not None:
            await phone.stop()
        await client.close()
        await asterisk.stop()


def as_user(live: Live, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.tokens[name]}"}


async def routing_offered(live: Live, call_id: str, department_id: int, customer_id: int) -> None:
    """What routing publishes when it offers a caller to an agent (the IVR's path)."""
    now = datetime.now(UTC)
    live.client.server.app[BUS].publish(
        OfferMade(
            offer_id=1, interaction_id=1, agent_id=1, channel="voice",
            customer_id=customer_id, department_id=department_id, mode="queue",
            expires_at=now + timedelta(seconds=30), at=now,
            external_refs=(("call_id", call_id),),
        )
    )  # fmt: skip
    await live.client.server.app[BUS].drain()


async def call_agent(live: Live, call_id: str, play: Path, seconds: float) -> None:
    """The scripted caller: a Local channel that rings the agent and, once answered,
    plays ``play``; ``call_id`` becomes the call's Linkedid (the journal's call id)."""
    await live.client.server.app[AMI].originate(
        {
            "Channel": f"Local/{AGENT}@agents",
            "Context": "caller-robot",
            "Exten": "s",
            "Priority": "1",
            "ChannelId": call_id,
            "OtherChannelId": f"{call_id}-2",
            "Variable": f"ROBOT_PLAY={play.with_suffix('')},ROBOT_HOLD=0",
            "Timeout": str(int(seconds * 1000)),
        },
        timeout=DEADLINE_S,
    )


def silent_run(left: list[float], right: list[float]) -> tuple[float, float]:
    """The longest stretch (start, end in seconds) where both channels are silent."""
    best, start = (0, 0), None
    for i, quiet in enumerate(
        [max(a, b) < 100 for a, b in zip(left, right, strict=True)] + [False]
    ):
        if quiet and start is None:
            start = i
        elif not quiet and start is not None:
            best = max(best, (start, i), key=lambda r: r[1] - r[0])
            start = None
    return best[0] * WINDOW_S, best[1] * WINDOW_S


async def test_a_call_is_recorded_in_stereo_caller_left_agent_right_with_the_paused_stretch_silent(
    live: Live, tmp_path: Path
) -> None:
    app = live.client.server.app
    pool = app[POOL]
    stored: asyncio.Queue[RecordingStored] = asyncio.Queue()
    linked: asyncio.Queue[RecordingLinked] = asyncio.Queue()
    unsubscribe = [
        app[BUS].subscribe(RecordingStored, stored.put_nowait),
        app[BUS].subscribe(RecordingLinked, linked.put_nowait),
    ]
    # When MixMonitor started, was muted and unmuted on the agent's channel, as
    # Asterisk reported it: the stored file's time 0 is the start.
    loop = asyncio.get_running_loop()
    heard_at: dict[tuple[str, str | None], float] = {}

    def note(msg: Any) -> None:
        on_agent = msg.get("Channel", "").startswith(f"PJSIP/{AGENT}-")
        if on_agent and msg.event in ("MixMonitorStart", "MixMonitorMute"):
            heard_at[(msg.event, msg.get("State"))] = loop.time()

    unsubscribe.append(app[AMI].subscribe(note))
    call_id = "sbtest-recorded"
    await routing_offered(live, call_id, department_id=7, customer_id=42)
    await call_agent(live, call_id, live.caller_wav, CALLER_S)

    async def recording_row() -> Any:
        return await pool.fetchrow(
            "SELECT id, agent_leg, department_id, customer_id FROM recordings WHERE call_id = $1",
            call_id,
        )

    row = await until(recording_row, "the recording registered at the answer")
    assert (row["department_id"], row["customer_id"]) == (7, 42)
    leg = Path(row["agent_leg"])
    pause = f"/api/v1/calls/{call_id}/recording/pause"
    resume = f"/api/v1/calls/{call_id}/recording/resume"
    await until(lambda: leg_seconds(leg) >= PAUSE_AFTER_S, "audio before the pause")

    refused = await live.client.post(pause, headers=as_user(live, "nina"))
    assert refused.status == 403, "an operator not on the call cannot pause it"
    paused = await live.client.post(pause, headers=as_user(live, "oleg"))
    assert await paused.json() == {"call_id": call_id, "recording_id": row["id"], "paused": True}
    paused_leg = leg_seconds(leg)
    await until(lambda: leg_seconds(leg) >= paused_leg + PAUSED_FOR_S, "the paused stretch")
    resumed = await live.client.post(resume, headers=as_user(live, "oleg"))
    assert (await resumed.json())["paused"] is False

    event = await asyncio.wait_for(stored.get(), DEADLINE_S)
    assert event.recording_id == row["id"] and event.call_id == call_id
    link = await asyncio.wait_for(linked.get(), DEADLINE_S)
    for unsub in unsubscribe:
        unsub()
    call = await pool.fetchrow(
        "SELECT id, talk_seconds, recording_id FROM calls WHERE call_id = $1", call_id
    )
    assert call["recording_id"] == row["id"]
    assert (link.recording_id, link.call_row_id, link.customer_id) == (row["id"], call["id"], 42)
    # MixMonitor starts a moment after the answer; the hang-up ends both.
    assert event.duration_s == pytest.approx(call["talk_seconds"], abs=0.5)
    assert event.duration_s == pytest.approx(CALLER_S, abs=0.8)

    response = await live.client.get(
        f"/api/v1/recordings/{row['id']}/audio", headers=as_user(live, "oleg")
    )
    assert response.status == 200
    audio = tmp_path / "call.ogg"
    audio.write_bytes(await response.read())
    left, right = (windows(channel_samples(audio, c)) for c in (0, 1))
    left_rms, right_rms = [rms(w) for w in left], [rms(w) for w in right]

    # The paused stretch: both sides silent, from the mute to the unmute.
    began = heard_at[("MixMonitorStart", None)]
    muted = heard_at[("MixMonitorMute", "1")] - began
    unmuted = heard_at[("MixMonitorMute", "0")] - began
    start, end = silent_run(left_rms, right_rms)
    assert start == pytest.approx(muted, abs=0.2) and end == pytest.approx(unmuted, abs=0.2), (
        (start, end),
        (muted, unmuted),
    )

    # Outside it each side is heard on its own channel, and only there.
    heard = [
        i
        for i in range(len(left))
        if (i + 1) * WINDOW_S < start - 0.3 or i * WINDOW_S > end + 0.3
        if (i + 1) * WINDOW_S < event.duration_s - 0.5 and i * WINDOW_S > 0.3
    ]
    assert len(heard) * WINDOW_S > 2.0
    for i in heard:
        assert left_rms[i] > 1000 and right_rms[i] > 1000, i
        assert tone_power(left[i], CALLER_HZ) > 20 * tone_power(left[i], AGENT_HZ), i
        assert tone_power(right[i], AGENT_HZ) > 20 * tone_power(right[i], CALLER_HZ), i

    # Someone else's recording is no recording to them; an admin's: any.
    for name, status in (("nina", 404), ("root", 200), ("oleg", 200)):
        response = await live.client.get(
            f"/api/v1/recordings/{row['id']}", headers=as_user(live, name)
        )
        assert response.status == status, name


async def test_a_department_that_does_not_record_inbound_calls_is_not_recorded(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    call_id = "sbtest-unrecorded"
    short = tone_wav(live.caller_wav.with_name("short.wav"), seconds=1.0, frequency=CALLER_HZ)
    await routing_offered(live, call_id, department_id=9, customer_id=43)
    with caplog.at_level(logging.INFO, logger="recording.live"):
        await call_agent(live, call_id, short, 1.0)
        await until(
            lambda: any(
                r.getMessage().startswith("call not recorded by policy")
                and getattr(r, "call_id", None) == call_id
                for r in caplog.records
            ),
            "the policy decision",
        )
    pool = live.client.server.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1", call_id) == 0
