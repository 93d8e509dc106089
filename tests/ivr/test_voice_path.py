"""The voice path on a real Asterisk 22 with real baresip agents: the IVR, waiting with
announcements, ringing agents, overflow, callback, abandon, voicemail, after hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.ivr.lab import Lab, running_lab

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
async def lab(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    async with running_lab(tmp_path_factory.mktemp("ivr"), db_dsn) as lab:
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
    assert '"phone": "+79160000001"' in interaction["external_refs"]
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
