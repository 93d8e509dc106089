"""The one line a call gets on the customer's timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.events import IvrCallEnded
from ivr.timeline import summary

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def ended(outcome: str, seconds: float, **extra: object) -> IvrCallEnded:
    return IvrCallEnded(
        call_id="1795599127.13", number="500", caller_number="+79160000001", customer_id=1,
        outcome=outcome, ivr_path=("main",), interaction_id=None, started_at=T0,
        ended_at=T0 + timedelta(seconds=seconds), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_served_call_names_its_agent_the_wait_and_the_length() -> None:
    call = ended("served", 160, waited_s=12.4, agent_id=7, department_id=3)
    assert summary(call) == "Call answered by agent 7 after 0:12 waiting (2:40)"


def test_a_call_that_never_queued_says_what_became_of_it() -> None:
    assert summary(ended("abandoned_in_ivr", 9)) == "Call ended in the menu (0:09)"
    assert (
        summary(ended("abandoned_in_queue", 75, waited_s=61.0))
        == "Caller hung up after 1:01 waiting (1:15)"
    )
