"""Calls on a real Asterisk 22 with baresip softphones and Local channels.

Every test drives one call, records the raw AMI stream with ``pbx.capture.capture``
while it runs, and checks three views of the call against what the test drove:
the live tracker (domain events over a real AMI connection), and the replay of the
capture. ``SWITCHBOARD_RECORD_CAPTURES=1`` also stores the capture and the expected
output (built from what the test drove, never from a replay) as fixtures in
``tests/pbx/captures`` for test_replay_fixtures.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asterisk_conf.instance import AsteriskInstance
from pbx.ami.client import AmiClient
from pbx.ami.codec import AmiMessage
from pbx.capture import capture, record_to_json, replay
from pbx.events import CallAnswered, CallEnded, CallEvent, CallRinging, CallStarted
from pbx.services import CallTrackingService
from server.clock import SystemClock
from tests.pbx.lab import Lab, Phones, ami_config, running_lab

pytestmark = pytest.mark.asterisk

CAPTURES = Path(__file__).parent / "captures"
RECORD = os.environ.get("SWITCHBOARD_RECORD_CAPTURES") == "1"


@pytest.fixture(scope="module")
async def lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    async with running_lab(tmp_path_factory.mktemp("pbx-lab")) as lab:
        yield lab


class Call:
    """One driven scenario: capture + live tracker + what the test saw on the wire."""

    def __init__(self, instance: AsteriskInstance, phones: Phones, tmp: Path):
        self.instance = instance
        self.phones = phones
        self.capture_path = tmp / "capture.ami"
        self.events: list[CallEvent] = []
        # Channel name and Uniqueid of each new channel, in order (the test's own view).
        self.channels: list[tuple[str, str]] = []
        self.ami = AmiClient(ami_config(instance))
        self._published = asyncio.Event()
        self.tracking = CallTrackingService(self.ami, self._publish, clock=SystemClock().now)
        self._stop = asyncio.Event()
        self._capture: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Call:
        self.phones.mark()
        capturing = asyncio.Event()
        self._capture = asyncio.create_task(
            capture(ami_config(self.instance), self.capture_path, stop=self._stop, ready=capturing)
        )
        async with asyncio.timeout(10):
            await capturing.wait()
        self.ami.subscribe(self._see)
        await self.ami.start()
        await self.ami.wait_connected(10)
        await self.tracking.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._capture is not None:
            await self._capture
        await self.tracking.close()
        await self.ami.close()

    def _publish(self, event: CallEvent) -> None:
        self.events.append(event)
        self._published.set()

    def _see(self, msg: AmiMessage) -> None:
        if msg.event == "Newchannel":
            self.channels.append((msg["Channel"], msg["Uniqueid"]))

    def channel(self, prefix: str, nth: int = 0) -> str:
        return [c for c, _ in self.channels if c.startswith(prefix)][nth]

    def uniqueid(self, prefix: str) -> str:
        return next(u for c, u in self.channels if c.startswith(prefix))

    def phone_channel(self, agent: str, nth: int = 0) -> str:
        return self.channel(f"PJSIP/{agent}-", nth)

    async def ended(self, count: int = 1, within: float = 30) -> list[dict[str, Any]]:
        """The calls the live tracker ended, once ``count`` have ended."""
        async with asyncio.timeout(within):
            while len(ended := [e for e in self.events if isinstance(e, CallEnded)]) < count:
                self._published.clear()
                await self._published.wait()
        # Let the capture connection read the last events too.
        await asyncio.sleep(0.5)
        return [record_to_json(e.record) for e in ended]

    async def finish(self, name: str, expected: list[dict[str, Any]], count: int = 1) -> None:
        live = await self.ended(count)
        assert live == expected, "live tracker"
        self._stop.set()
        assert self._capture is not None
        await self._capture
        assert list(replay(self.capture_path)) == expected, "replay of the capture"
        if RECORD:
            CAPTURES.mkdir(exist_ok=True)
            (CAPTURES / f"{name}.ami").write_bytes(self.capture_path.read_bytes())
            (CAPTURES / f"{name}.expected.jsonl").write_text(
                "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in expected),
                encoding="utf-8",
            )


def party(number: str, name: str | None, channel: str) -> dict[str, Any]:
    return {"number": number, "name": name, "channel": channel}


def answered(number: str, channel: str) -> dict[str, Any]:
    return {"number": number, "channel": channel}


@pytest.fixture
async def call(lab: Lab, tmp_path: Path) -> AsyncIterator[Call]:
    instance, phones = lab
    async with Call(instance, phones, tmp_path) as c:
        yield c


async def phone_call(call: Call, caller: str, callee: str) -> None:
    """``caller`` dials ``callee``, who answers."""
    await call.phones[caller].dial(callee)
    await call.phones.wait(callee, "CALL_INCOMING")
    await call.phones[callee].accept()
    await call.phones.wait(caller, "CALL_ESTABLISHED")


async def test_answered_call_caller_hangs_up(call: Call) -> None:
    p = call.phones
    await phone_call(call, "1001", "1002")
    await asyncio.sleep(1)
    await p["1001"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": answered("1002", call.phone_channel("1002")),
        "disposition": "answered",
        "hangup_by": "caller",
        "transfers": [],
    }
    await call.finish("answered_caller_hangs_up", [expected])
    kinds = [type(e) for e in call.events]
    assert kinds == [CallStarted, CallRinging, CallAnswered, CallEnded]


async def test_answered_call_callee_hangs_up(call: Call) -> None:
    p = call.phones
    await phone_call(call, "1001", "1002")
    await asyncio.sleep(1)
    await p["1002"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": answered("1002", call.phone_channel("1002")),
        "disposition": "answered",
        "hangup_by": "callee",
        "transfers": [],
    }
    await call.finish("answered_callee_hangs_up", [expected])
    (ended,) = [e for e in call.events if isinstance(e, CallEnded)]
    assert ended.record.talk_seconds >= 0.5
    assert ended.record.hangup_cause == 16


async def test_no_answer(call: Call) -> None:
    await call.phones["1001"].dial("1002")
    await call.phones.wait("1002", "CALL_INCOMING")
    # Nobody answers: the Dial's ring timeout (6 s in the lab) ends it.
    await call.phones.wait("1001", "CALL_CLOSED", timeout_s=20)
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": None,
        "disposition": "no_answer",
        "hangup_by": "unknown",
        "transfers": [],
    }
    await call.finish("no_answer", [expected])


async def test_callee_rejects(call: Call) -> None:
    await call.phones["1001"].dial("1002")
    await call.phones.wait("1002", "CALL_INCOMING")
    await call.phones["1002"].hangup()  # a ringing call hung up is rejected (486 Busy Here)
    await call.phones.wait("1001", "CALL_CLOSED")
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": None,
        "disposition": "busy",
        "hangup_by": "callee",
        "transfers": [],
    }
    await call.finish("busy_reject", [expected])


async def test_caller_cancels_while_ringing(call: Call) -> None:
    await call.phones["1001"].dial("1002")
    await call.phones.wait("1002", "CALL_INCOMING")
    await asyncio.sleep(0.5)
    await call.phones["1001"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": None,
        "disposition": "cancelled",
        "hangup_by": "caller",
        "transfers": [],
    }
    await call.finish("caller_cancels", [expected])


async def test_ring_group_two_phones_one_answers(call: Call) -> None:
    await call.ami.send_action(
        "DialplanExtensionAdd",
        {
            "Context": "agents",
            "Extension": "600",
            "Priority": "1",
            "Application": "Dial",
            "ApplicationData": "PJSIP/1002&PJSIP/1003,10,tT",
            "Replace": "yes",
        },
    )
    p = call.phones
    await p["1001"].dial("600")
    await call.phones.wait("1002", "CALL_INCOMING")
    await call.phones.wait("1003", "CALL_INCOMING")
    await p["1003"].accept()
    await call.phones.wait("1001", "CALL_ESTABLISHED")
    await asyncio.sleep(1)
    await p["1001"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "600",
        "answered_by": answered("1003", call.phone_channel("1003")),
        "disposition": "answered",
        "hangup_by": "caller",
        "transfers": [],
    }
    await call.finish("ring_group", [expected])
    rang = {e.party.number for e in call.events if isinstance(e, CallRinging)}
    assert rang == {"1002", "1003"}


async def test_blind_transfer(call: Call) -> None:
    p = call.phones
    await phone_call(call, "1001", "1002")
    await asyncio.sleep(0.5)
    await p["1002"].transfer("1003")  # SIP REFER
    await call.phones.wait("1003", "CALL_INCOMING")
    await p["1003"].accept()
    await asyncio.sleep(1)
    await p["1003"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": answered("1002", call.phone_channel("1002")),
        "disposition": "answered",
        "hangup_by": "callee",
        "transfers": [{"kind": "blind", "by_channel": call.phone_channel("1002"), "to": "1003"}],
    }
    await call.finish("blind_transfer", [expected])


async def test_attended_transfer_driven_by_ami(call: Call) -> None:
    p = call.phones
    await phone_call(call, "1001", "1002")
    await asyncio.sleep(0.5)
    transferer = call.phone_channel("1002")
    await call.ami.send_action(
        "Atxfer", {"Channel": transferer, "Exten": "1003", "Context": "agents"}
    )
    await call.phones.wait("1003", "CALL_INCOMING")
    await p["1003"].accept()
    await asyncio.sleep(1)
    await p["1002"].hangup()  # the transferer leaves: the transfer completes
    await asyncio.sleep(1)
    await p["1001"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": answered("1002", transferer),
        "disposition": "answered",
        "hangup_by": "caller",
        "transfers": [{"kind": "attended", "by_channel": transferer, "to": "1003"}],
    }
    await call.finish("attended_transfer", [expected])


async def test_cyrillic_caller_name_from_a_local_channel_caller(call: Call) -> None:
    await _originate_answered_by(call, "1002")
    expected = {
        "call_id": call.uniqueid("Local/1002@agents-"),
        "caller": party("79161234567", "Иван Петрович Сидоров", call.channel("Local/1002@agents-")),
        "destination": "1002",
        "answered_by": answered("1002", call.phone_channel("1002")),
        "disposition": "answered",
        "hangup_by": "caller",
        "transfers": [],
    }
    await call.finish("cyrillic_robot_caller", [expected])
    started = next(e for e in call.events if isinstance(e, CallStarted))
    assert started.caller.name == "Иван Петрович Сидоров"


async def _originate_answered_by(call: Call, agent: str) -> None:
    # The robot's ;1 half answers, holds 2 s and hangs up; its ;2 half rings the agent.
    originate = asyncio.create_task(
        call.ami.originate(
            {
                "Channel": f"Local/{agent}@agents",
                "Context": "caller-robot",
                "Exten": "s",
                "Priority": "1",
                "CallerID": "Иван Петрович Сидоров <79161234567>",
                "Variable": "ROBOT_HOLD=2",
            },
            timeout=30,
        )
    )
    await call.phones.wait(agent, "CALL_INCOMING")
    await call.phones[agent].accept()
    await originate


async def test_click_to_call_caller_is_the_agent_phone(call: Call) -> None:
    p = call.phones
    originate = asyncio.create_task(
        call.ami.originate(
            {
                "Channel": "Local/1001@agents",
                "Context": "agents",
                "Exten": "1003",
                "Priority": "1",
                "CallerID": "Click <1001>",
            },
            timeout=30,
        )
    )
    await call.phones.wait("1001", "CALL_INCOMING")
    await p["1001"].accept()
    await originate
    await call.phones.wait("1003", "CALL_INCOMING")
    await p["1003"].accept()
    await asyncio.sleep(1)
    await p["1003"].hangup()
    expected = {
        "call_id": call.uniqueid("Local/1001@agents-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1003",
        "answered_by": answered("1003", call.phone_channel("1003")),
        "disposition": "answered",
        "hangup_by": "callee",
        "transfers": [],
    }
    await call.finish("click_to_call", [expected])


async def test_queue_call_rings_every_agent_one_answers(call: Call) -> None:
    # No FastAGI server listens in the lab: the dialplan's fallback queue rings all.
    p = call.phones
    originate = asyncio.create_task(
        call.ami.originate(
            {
                "Channel": "Local/500@ivr-in",
                "Context": "caller-robot",
                "Exten": "s",
                "Priority": "1",
                "CallerID": "Caller <79160000001>",
                "Variable": "ROBOT_HOLD=30",
            },
            timeout=30,
        )
    )
    await originate  # the IVR side answers the robot at once
    for agent in ("1001", "1002", "1003"):
        await call.phones.wait(agent, "CALL_INCOMING")
    await p["1002"].accept()
    await asyncio.sleep(1)
    await p["1002"].hangup()
    expected = {
        "call_id": call.uniqueid("Local/500@ivr-in-"),
        "caller": party("79160000001", "Caller", call.channel("Local/500@ivr-in-")),
        "destination": "500",
        "answered_by": answered("1002", call.phone_channel("1002")),
        "disposition": "answered",
        "hangup_by": "callee",
        "transfers": [],
    }
    await call.finish("queue_call", [expected])


async def test_pickup_by_another_phone(call: Call) -> None:
    await call.ami.send_action(
        "DialplanExtensionAdd",
        {
            "Context": "agents",
            "Extension": "81002",
            "Priority": "1",
            "Application": "PickupChan",
            "ApplicationData": "PJSIP/1002",
            "Replace": "yes",
        },
    )
    p = call.phones
    await p["1001"].dial("1002")
    await call.phones.wait("1002", "CALL_INCOMING")
    await p["1003"].dial("81002")
    await call.phones.wait("1003", "CALL_ESTABLISHED")
    await call.phones.wait("1001", "CALL_ESTABLISHED")
    await asyncio.sleep(1)
    await p["1003"].hangup()
    expected = {
        "call_id": call.uniqueid("PJSIP/1001-"),
        "caller": party("1001", "Agent 1001", call.phone_channel("1001")),
        "destination": "1002",
        "answered_by": answered("1003", call.phone_channel("1003")),
        "disposition": "answered",
        "hangup_by": "callee",
        "transfers": [],
    }
    await call.finish("pickup", [expected], count=1)
