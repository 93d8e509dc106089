"""The recording notice on a real Asterisk 22: a caller of a department whose recording
policy says to announce hears the notice once, whole, before any agent is rung, even
when the first agent does not answer and the call goes back to waiting; a department
with the announcement off plays nothing.

What the caller heard is Asterisk's own record of it: a MixMonitor on the caller's
side of the call, compared with the sound file Asterisk plays.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from pbx.audio import pcm_stream
from tests.harness.asterisk import AmiMessage
from tests.ivr.lab import Caller, Lab, running_lab

pytestmark = pytest.mark.asterisk
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
NOTICE = "conf-now-recording"
RATE = 8000
# The envelope the notice is looked for by: RMS over 20 ms windows.
WINDOW = RATE // 50


@pytest.fixture(scope="module")
async def lab(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    # The departments exist before the server starts: the recording policy names them.
    conn = await asyncpg.connect(db_dsn)
    try:
        told, quiet = [
            await conn.fetchval("INSERT INTO departments (name) VALUES ($1) RETURNING id", name)
            for name in ("told", "quiet")
        ]
    finally:
        await conn.close()
    recording = {
        "policy": {"inbound": {"record": True, "announce": True}},
        "department_policy": {quiet: {"inbound": {"record": True, "announce": False}}},
    }
    async with running_lab(tmp_path_factory.mktemp("notice"), db_dsn, recording=recording) as lab:
        lab.departments.update(told=told, quiet=quiet)
        yield lab


def menus(department_id: int) -> dict[str, object]:
    return {
        "greeting": "sound:beep",
        "menus": {
            "main": {
                "prompt": "sound:beep",
                "timeout_s": 3,
                "options": {"1": {"type": "department", "department_id": department_id}},
            }
        },
    }


async def hear_caller(lab: Lab, caller: Caller, name: str) -> Path:
    """Record what the caller hears from now on (MixMonitor on the caller's own channel,
    which plays nothing itself)."""
    path = lab.asterisk.instance_dir / "heard" / f"{name}.wav"
    path.parent.mkdir(exist_ok=True)
    answer = await lab.ami.send(
        {"Action": "MixMonitor", "Channel": caller.robot_channel, "File": str(path)}
    )
    assert answer["Response"] == "Success", answer
    return path


def envelope(path: Path) -> list[float]:
    samples = array("h")
    with pcm_stream(path, RATE) as chunks:
        for chunk in chunks:
            samples.frombytes(chunk)
    return [
        math.sqrt(sum(s * s for s in samples[i : i + WINDOW]) / WINDOW)
        for i in range(0, len(samples) - WINDOW + 1, WINDOW)
    ]


def matches(heard: list[float], sound: list[float], threshold: float = 0.9) -> list[int]:
    """Windows where the whole of ``sound`` is heard (its envelope correlates above
    ``threshold``), one per hearing."""
    n = len(sound)
    mean = sum(sound) / n
    ref = [v - mean for v in sound]
    ref_norm = math.sqrt(sum(v * v for v in ref))
    found: list[int] = []
    for start in range(len(heard) - n + 1):
        part = heard[start : start + n]
        m = sum(part) / n
        dev = [v - m for v in part]
        norm = math.sqrt(sum(v * v for v in dev))
        if norm == 0:
            continue
        if sum(a * b for a, b in zip(ref, dev, strict=True)) / (ref_norm * norm) > threshold:
            if not found or start - found[-1] >= n:
                found.append(start)
    return found


def index_of(lab: Lab, event: AmiMessage) -> int:
    return next(i for i, e in enumerate(lab.ami.events) if e is event)


async def notice_envelope(lab: Lab) -> list[float]:
    sound = lab.asterisk.sounds_dir / "en" / f"{NOTICE}.gsm"
    return await asyncio.to_thread(envelope, sound)


async def test_the_caller_hears_the_recording_notice_once_before_any_agent_rings(lab: Lab) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    told = await lab.department("told", ("100", "101"))
    await lab.set_available("100", "101")
    await lab.put_menus(menus(told))
    caller = await lab.call()
    heard_file = await hear_caller(lab, caller, "told")
    await caller.press("1")

    played = await caller.listening(f"STREAM FILE {NOTICE}")
    ended = await lab.ami.wait_event(
        lambda e: (
            e.get("Event") == "AGIExecEnd"
            and e.get("Channel") == caller.ivr_channel
            and e.get("CommandId") == played.get("CommandId")
        ),
        timeout_s=20,
    )
    # The first phone rung is left ringing: the call goes back to waiting, then the
    # other agent's phone rings and is answered.
    first = await lab.ami.wait_event(
        lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
        timeout_s=20,
    )
    second = await lab.ami.wait_event(
        lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
        timeout_s=30,
    )
    assert first["DestChannel"] != second["DestChannel"]
    phone = lab.phones[second["DestChannel"].split("/")[1][:3]]
    await phone.wait_for("CALL_INCOMING", timeout_s=20)
    await phone.accept()
    await phone.wait_for("CALL_ESTABLISHED")
    await phone.hangup()
    row = await lab.journal(caller.call_id)
    await lab.settle()

    # Asterisk finished playing it before it rang anyone, and played it once.
    assert index_of(lab, ended) < index_of(lab, first)
    assert [
        e
        for e in lab.ami.events
        if e.get("Event") == "AGIExecStart"
        and e.get("Channel") == caller.ivr_channel
        and e.get("Command", "").startswith(f"STREAM FILE {NOTICE}")
    ] == [played]
    assert row["outcome"] == "served"
    assert row["ivr_path"].count("recording_notice") == 1
    # And the caller heard the whole of it, once.
    heard = await asyncio.to_thread(envelope, heard_file)
    assert len(matches(heard, await notice_envelope(lab))) == 1


async def test_a_department_with_the_announcement_off_plays_no_notice(lab: Lab) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    quiet = await lab.department("quiet", ("102",))
    await lab.set_available("102")
    await lab.put_menus(menus(quiet))
    caller = await lab.call()
    heard_file = await hear_caller(lab, caller, "quiet")
    await caller.press("1")
    rung = await lab.ami.wait_event(
        lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
        timeout_s=20,
    )
    phone = lab.phones["102"]
    await phone.wait_for("CALL_INCOMING", timeout_s=20)
    await phone.accept()
    await phone.wait_for("CALL_ESTABLISHED")
    await phone.hangup()
    row = await lab.journal(caller.call_id)
    await lab.settle()

    assert rung["DestChannel"].startswith("PJSIP/102-")
    assert row["outcome"] == "served" and "recording_notice" not in row["ivr_path"]
    assert not [
        e
        for e in lab.ami.events
        if e.get("Event") == "AGIExecStart"
        and e.get("Channel") == caller.ivr_channel
        and NOTICE in e.get("Command", "")
    ]
    heard = await asyncio.to_thread(envelope, heard_file)
    assert matches(heard, await notice_envelope(lab)) == []
