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
