"""The voice path on a real Asterisk 22 with real baresip agents: the IVR, waiting with
announcements, ringing agents, overflow, callback, abandon, voicemail, after hours."""

from __future__ import annotations

import asyncio
import email
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from asterisk_conf.instance import allocate_port_block
from server.keys import AGI
from tests.app_helpers import create_user, login
from tests.ivr.lab import AGENTS, EXTERNAL, NUMBER, PHONELESS, Lab, running_lab

pytestmark = pytest.mark.asterisk
MSK = ZoneInfo("Europe/Moscow")
# A Tuesday at noon in Moscow: open. The same evening: closed.
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=MSK)
WEEKDAYS_9_TO_18 = {
    "timezone": "Europe/Moscow",
    "weekly": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["RU"],
}


@pytest.fixture(scope="module")
async def smtp() -> AsyncIterator[tuple[int, list[Envelope]]]:
    """A real SMTP server on loopback: its port, and the mail it received."""
    received: list[Envelope] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
            received.append(envelope)
            return "250 OK"

    port = allocate_port_block(1)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    yield port, received
    await asyncio.to_thread(controller.stop)


@pytest.fixture(scope="module")
async def lab(
    db_dsn: str, tmp_path_factory: pytest.TempPathFactory, smtp: tuple[int, list[Envelope]]
) -> AsyncIterator[Lab]:
    mail = {"host": "127.0.0.1", "port": smtp[0], "sender": "ivr@example.org"}
    async with running_lab(tmp_path_factory.mktemp("ivr"), db_dsn, smtp=mail) as lab:
        yield lab


def menus(department_id: int, **extra: object) -> dict[str, object]:
    return {
        "schedule": WEEKDAYS_9_TO_18,
        "greeting": "sound:beep",
        "after_hours": {"greeting": "sound:beep", "action": {"type": "voicemail"}},
        "menus": {
            "main": {
                "prompt": "sound:beep",
                "timeout_s": 3,
                "options": {"1": {"type": "department", "department_id": department_id}},
            }
        },
        **extra,
    }


async def test_in_hours_the_chosen_department_rings_an_agent_who_answers_and_talks(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    support = await lab.department("support", ("100",))
    await lab.set_available("100")
    await lab.put_menus(menus(support))
    caller = await lab.call()
    await caller.press("1")
    phone = lab.phones["100"]
    await phone.wait_for("CALL_INCOMING", timeout_s=20)
    await phone.accept()
    await phone.wait_for("CALL_ESTABLISHED")
    await phone.hangup()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "served"
    assert row["ivr_path"][:3] == ["main", "main:1", f"department:{support}"]
    interaction = await lab.interaction(row["interaction_id"])
    assert interaction["channel"] == "voice"
    assert interaction["state"] in ("wrap_up", "completed")
    assert interaction["agent_id"] == lab.agent_ids["100"]
    # The customer's timeline: the call as one entry of the voice path, with all of it.
    entries = await lab.until(
        lambda: lab.pool.fetch(
            "SELECT * FROM timeline_entries WHERE source = 'ivr' AND data->>'call_id' = $1",
            caller.call_id,
        ),
        "the call on the timeline",
    )
    (entry,) = entries
    data = json.loads(entry["data"])
    assert (data["outcome"], data["agent_id"], data["department_id"]) == (
        "served", lab.agent_ids["100"], support,
    )  # fmt: skip
    assert 0 <= data["waited_s"] < data["duration_s"], "the wait ends when the agent answers"
    assert entry["summary"].startswith(f"Call answered by agent {lab.agent_ids['100']} after")
    await lab.settle()


async def test_nobody_answers_so_the_next_agent_rings_then_the_call_overflows_to_voicemail(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    sales = await lab.department("sales", ("100", "101"), max_wait_s=9, overflow_target="voicemail")
    await lab.set_available("100", "101")
    await lab.put_menus(menus(sales))
    caller = await lab.call(talk=True)
    await caller.press("1")
    first = await lab.ami.wait_event(
        lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
        timeout_s=20,
    )
    second = await lab.ami.wait_event(
        lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
        timeout_s=20,
    )
    rung = {first["DestChannel"].split("/")[1][:3], second["DestChannel"].split("/")[1][:3]}
    assert rung == {"100", "101"}
    await caller.leave_message()
    row = await lab.journal(caller.call_id, timeout_s=40)
    assert row["outcome"] == "voicemail"
    assert "overflow:voicemail" in row["ivr_path"]
    interaction = await lab.interaction(row["interaction_id"])
    assert interaction["state"] == "expired"
    await lab.set_available("100", "101", available=False)
    await lab.settle()


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned_with_the_wait_time(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    nobody = await lab.department("nobody", ())
    await lab.put_menus(menus(nobody))
    caller = await lab.call()
    await caller.press("1")
    # Waiting: music on hold between announcements.
    await caller.listening("SET MUSIC")
    await caller.hang_up()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "abandoned_in_queue"
    interaction = await lab.interaction(row["interaction_id"])
    assert interaction["state"] == "abandoned"
    waited = (interaction["ended_at"] - interaction["enqueued_at"]).total_seconds()
    assert waited > 0
    async with lab.pool.acquire() as conn:
        entry = await conn.fetchrow(
            "SELECT * FROM timeline_entries WHERE source = 'ivr' AND source_ref = $1",
            f"call:{caller.call_id}",
        )
    assert entry is not None and entry["kind"] == "call"
    assert '"waited_s"' in entry["data"]
    await lab.settle()


async def test_pressing_1_while_waiting_turns_the_call_into_a_callback_keeping_its_place(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    nobody = await lab.department("nobody", ())
    await lab.put_menus(menus(nobody))
    caller = await lab.call()
    await caller.press("1")
    await caller.press("1", when="WAIT FOR DIGIT")
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "callback_requested"
    interaction = await lab.interaction(row["interaction_id"])
    assert interaction["channel"] == "callback"
    assert interaction["state"] == "queued"
    async with lab.pool.acquire() as conn:
        queued_at = await conn.fetchval(
            "SELECT min(at) FROM routing_audit WHERE interaction_id = $1 AND kind = 'waiting'",
            interaction["id"],
        )
    # The enqueue time is the voice call's, not the moment the caller pressed 1.
    assert interaction["enqueued_at"] <= queued_at
    assert json.loads(interaction["external_refs"])["phone"] == "+79160000001"
    # The confirmation was played before the line was hung up.
    confirm = lab.events_of(caller.ivr_channel, "AGIExecStart")
    assert any("auth-thankyou" in e.get("Command", "") for e in confirm)
    await lab.settle()


async def test_two_callers_waiting_at_once_hear_positions_1_and_2(lab: Lab) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    nobody = await lab.department("nobody", ())
    await lab.put_menus(menus(nobody))
    first = await lab.call("+79160000002")
    await first.press("1")
    await first.listening("STREAM FILE queue-youarenext")
    second = await lab.call("+79160000003")
    await second.press("1")
    await second.listening("SAY NUMBER 2")
    await first.hang_up()
    await second.hang_up()
    for caller in (first, second):
        assert (await lab.journal(caller.call_id))["outcome"] == "abandoned_in_queue"
    await lab.settle()


async def test_after_hours_the_caller_hears_the_greeting_and_leaves_a_voicemail(
    lab: Lab, smtp: tuple[int, list[Envelope]]
) -> None:
    mailbox = smtp[1]
    lab.clock.jump_to(TUESDAY_NOON.replace(hour=20))
    support = await lab.department("support", ())
    document = menus(support)
    document["after_hours"] = {
        "greeting": "sound:please-try-call-later",
        "action": {"type": "voicemail", "department_id": support},
    }
    document["mailboxes"] = {str(support): ["support@example.org"]}
    await lab.put_menus(document)
    caller = await lab.call("+79160000004", talk=True)
    await caller.listening("STREAM FILE please-try-call-later")
    await caller.leave_message()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "voicemail"
    assert row["ivr_path"][:2] == ["after_hours", "voicemail"]
    async with lab.pool.acquire() as conn:
        voicemail = await conn.fetchrow(
            "SELECT * FROM voicemails WHERE call_id = $1", caller.call_id
        )
        assert voicemail is not None and voicemail["duration_s"] >= 1.0
        assert Path(voicemail["path"]).is_file()
        customer = voicemail["customer_id"]
        kinds = await conn.fetch(
            "SELECT kind FROM timeline_entries WHERE customer_id = $1 AND source = 'ivr'",
            customer,
        )
    assert sorted(k["kind"] for k in kinds) == ["call", "voicemail"]
    await lab.until(lambda: _mail_for(mailbox, "support@example.org"), "the notification")
    mail = email.message_from_bytes((await _mail_for(mailbox, "support@example.org"))[0].content)
    assert "+79160000004" in mail["Subject"]
    assert any(p.get_content_type() == "audio/wav" for p in mail.walk())
    await lab.settle()


async def _mail_for(mailbox: list[Envelope], address: str) -> list[Envelope]:
    return [e for e in mailbox if address in e.rcpt_tos]


async def test_on_a_public_holiday_the_center_is_closed(lab: Lab) -> None:
    # 4 November 2026, Unity Day, is a Wednesday: noon would be open on any other one.
    lab.clock.jump_to(datetime(2026, 11, 4, 12, 0, tzinfo=MSK))
    support = await lab.department("support", ("100",))
    await lab.set_available("100")
    document = menus(support)
    document["after_hours"] = {"greeting": "sound:please-try-call-later"}
    await lab.put_menus(document)
    caller = await lab.call()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "after_hours"
    assert row["ivr_path"] == ["after_hours"]
    assert lab.events_of(caller.ivr_channel, "DialBegin") == []
    await lab.set_available("100", available=False)
    await lab.settle()


# The example of the issue, timeouts shortened: Mon-Fri 09:00-18:00 Moscow time; in hours
# ring 100-102 at once (a ring group) "for 20 s" (here: the department's max wait of 5 s);
# nobody answers or nobody is registered: forward to the external number; no answer
# there: voicemail; after hours: the after-hours greeting, then the external number.
def front_desk(department_id: int) -> dict[str, object]:
    forward = {"type": "forward", "number": "+" + EXTERNAL, "no_answer": "voicemail"}
    return {
        "schedule": WEEKDAYS_9_TO_18,
        "greeting": "sound:beep",
        "after_hours": {"greeting": "sound:please-try-call-later", "action": forward},
        "menus": {
            "main": {
                "prompt": (),
                "timeout_s": 0.5,
                "repeats": 0,
                "default": {"type": "department", "department_id": department_id},
            }
        },
    }


FRONT_DESK = {"mode": "ring_group", "max_wait_s": 5, "overflow_target": "forward:+" + EXTERNAL}


async def test_example_in_hours_nobody_answers_the_ring_group_so_the_external_number_takes_it(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    front = await lab.department("front", AGENTS, **FRONT_DESK)
    await lab.set_available(*AGENTS)
    await lab.put_menus(front_desk(front))
    caller = await lab.call()
    rung = set()
    while len(rung) < 3:
        begin = await lab.ami.wait_event(
            lambda e: e.get("Event") == "DialBegin" and e.get("Channel") == caller.ivr_channel,
            timeout_s=20,
        )
        rung.add(begin["DestChannel"].split("/")[1].split("-")[0])
    assert rung == set(AGENTS)
    external = lab.phones[EXTERNAL]
    await external.wait_for("CALL_INCOMING", timeout_s=30)
    await external.accept()
    await external.wait_for("CALL_ESTABLISHED")
    await external.hangup()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "forwarded"
    assert f"overflow:forward:+{EXTERNAL}" in row["ivr_path"]
    await lab.set_available(*AGENTS, available=False)
    await lab.settle()


async def test_example_nobody_registered_and_no_answer_outside_ends_in_voicemail(
    lab: Lab,
) -> None:
    lab.clock.jump_to(TUESDAY_NOON)
    phoneless = await lab.department("front-phoneless", PHONELESS, **FRONT_DESK)
    await lab.set_available(*PHONELESS)
    await lab.put_menus(front_desk(phoneless))
    caller = await lab.call(talk=True)
    await lab.phones[EXTERNAL].wait_for("CALL_INCOMING", timeout_s=30)
    await caller.leave_message()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "voicemail"
    assert row["ivr_path"][-2:] == [f"forward:+{EXTERNAL}", "voicemail"]
    await lab.set_available(*PHONELESS, available=False)
    await lab.settle()


async def test_example_after_hours_the_greeting_then_the_external_number(lab: Lab) -> None:
    lab.clock.jump_to(TUESDAY_NOON.replace(hour=19))
    front = await lab.department("front", AGENTS, **FRONT_DESK)
    await lab.put_menus(front_desk(front))
    caller = await lab.call()
    await caller.listening("STREAM FILE please-try-call-later")
    external = lab.phones[EXTERNAL]
    await external.wait_for("CALL_INCOMING", timeout_s=30)
    await external.accept()
    await external.wait_for("CALL_ESTABLISHED")
    await external.hangup()
    row = await lab.journal(caller.call_id)
    assert row["outcome"] == "forwarded"
    assert row["ivr_path"] == ["after_hours", f"forward:+{EXTERNAL}"]
    await lab.settle()


async def test_with_the_agi_server_down_the_fallback_queue_rings_the_softphones(lab: Lab) -> None:
    agi = lab.app[AGI]
    await agi.close()
    phone = lab.phones["101"]
    before = {id(e) for e in phone.events}
    try:
        response = await lab.ami.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{NUMBER}@ivr-in",
                "Context": "caller-robot",
                "Exten": "s",
                "Priority": "1",
                "Variable": "ROBOT_HOLD=60",
                "Async": "true",
            }
        )
        assert response["Response"] == "Success"
        await lab.ami.wait_event(
            lambda e: (
                e.get("Event") == "QueueCallerJoin"
                and e.get("Channel", "").startswith(f"Local/{NUMBER}@ivr-in-")
            ),
            timeout_s=20,
        )
        await phone.wait_for(
            lambda e: e.type == "CALL_INCOMING" and id(e) not in before, timeout_s=20
        )
        await phone.accept()
        await phone.wait_for(lambda e: e.type == "CALL_ESTABLISHED" and id(e) not in before)
        await phone.hangup()
    finally:
        await agi.start()
    await lab.settle()


async def test_menus_and_prompts_are_edited_at_run_time_and_checked_when_saved(
    lab: Lab, tmp_path: Path
) -> None:
    # The session cookie's expiry comes from the server's clock: real time here.
    lab.clock.jump_to(datetime.now(UTC))
    await create_user(lab.db_dsn, "ivr-admin", "admin")
    csrf = await login(lab.client, "ivr-admin")
    headers = {"X-CSRF-Token": csrf}
    support = await lab.department("support", ())
    mp3 = tmp_path / "welcome.mp3"
    speech = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
        "-i", "sine=frequency=440:duration=1", "-ar", "44100", str(mp3),
    )  # fmt: skip
    assert await speech.wait() == 0
    uploaded = await lab.client.put(
        "/api/v1/ivr/prompts/welcome", data=mp3.read_bytes(), headers=headers
    )
    assert uploaded.status == 200, await uploaded.text()
    assert (await uploaded.json())["ref"] == "prompt:welcome"
    bad = await lab.client.put(
        "/api/v1/ivr/prompts/noise", data=b"not audio at all", headers=headers
    )
    assert bad.status == 422

    document = menus(support)
    document["greeting"] = "prompt:welcome"
    document["schedule"] = None
    main = document["menus"]["main"]  # type: ignore[index]
    main["options"].update(  # type: ignore[index]
        {str(d): {"type": "info", "prompt": "sound:beep"} for d in range(2, 7)}
    )
    saved = await lab.client.put(f"/api/v1/ivr/menus/{NUMBER}", json=document, headers=headers)
    assert saved.status == 200, await saved.text()
    body = await saved.json()
    assert body["warnings"] == ["menu 'main' has 6 options; callers remember at most 5"]

    for wrong, complaint in (
        ("prompt:nowhere", "no such prompt: prompt:nowhere"),
        ("sound:no-such-sound-file", "no such prompt: sound:no-such-sound-file"),
    ):
        refused = await lab.client.put(
            f"/api/v1/ivr/menus/{NUMBER}", json={**document, "greeting": wrong}, headers=headers
        )
        assert refused.status == 422
        assert complaint in str(await refused.json())
    unknown = {**document, "mailboxes": {"999": ["a@example.org"]}}
    refused = await lab.client.put(f"/api/v1/ivr/menus/{NUMBER}", json=unknown, headers=headers)
    assert "no department 999" in str(await refused.json())
    in_use = await lab.client.delete("/api/v1/ivr/prompts/welcome", headers=headers)
    assert in_use.status == 409

    # The next call plays the uploaded prompt: no Asterisk reload.
    caller = await lab.call()
    played = await caller.listening("STREAM FILE")
    assert "/prompts/welcome-" in played["Command"]
    await caller.hang_up()
    assert (await lab.journal(caller.call_id))["outcome"] == "abandoned_in_ivr"
    await lab.settle()
