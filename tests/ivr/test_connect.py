"""The voice connector's handling of routing's offers, with the registry, queue and AMI
as fakes: the order of events is set by the test, not by a loaded machine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.calls import CallRegistry, LiveCall
from ivr.config import IvrConfig
from ivr.connect import VoiceConnector
from ivr.queue import RingTarget
from pbx.ami import AmiMessage
from pbx.ami.client import AmiError
from routing.events import OfferMade
from server.config import TimersConfig

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CALL_ID = "1700000000.42"
CHANNEL = "Local/500@ivr-in-00000006;2"


class FakeQueue:
    def __init__(self) -> None:
        self.declined: list[tuple[int, int]] = []

    async def ring_targets(self, interaction_id: int) -> tuple[list[RingTarget], None]:
        return [RingTarget(7, 3, "1203", NOW + timedelta(seconds=30))], None

    async def decline(self, offers: list[tuple[int, int]]) -> None:
        self.declined.extend(offers)


class FakeAmi:
    def __init__(self) -> None:
        self.actions: list[tuple[str, dict[str, str]]] = []
        # Set: Asterisk has taken the Redirect (the test holds its answer back).
        self.redirect_taken = asyncio.Event()
        self.redirect_taken.set()
        self.fail_with: str | None = None

    async def send_action(self, name: str, fields: dict[str, str]) -> dict[str, str]:
        self.actions.append((name, dict(fields)))
        if self.fail_with is not None:
            raise AmiError(name, AmiMessage({"Response": "Error", "Message": self.fail_with}))
        if name == "Redirect":
            await self.redirect_taken.wait()
        return {"Response": "Success"}


def connector(calls: CallRegistry, queue: FakeQueue, ami: FakeAmi) -> VoiceConnector:
    fake: Any = None
    return VoiceConnector(
        calls=calls,
        queue=queue,  # type: ignore[arg-type]
        ami=ami,  # type: ignore[arg-type]
        call_log=fake,
        config=IvrConfig(),
        timers=TimersConfig(ring_timeout_s=25.0),
        clock=lambda: NOW,
    )


def offer(interaction_id: int = 15) -> OfferMade:
    return OfferMade(
        offer_id=7,
        interaction_id=interaction_id,
        agent_id=3,
        channel="voice",
        customer_id=1,
        department_id=1,
        mode="queue",
        expires_at=NOW + timedelta(seconds=30),
        at=NOW,
        external_refs=(("call_id", CALL_ID),),
    )


def caller_in_menu(calls: CallRegistry) -> LiveCall:
    return calls.add(LiveCall(CALL_ID, CHANNEL, "500", "+79160000006", "Caller", NOW))


def redirected(ami: FakeAmi) -> list[str]:
    return [f["Context"] for name, f in ami.actions if name == "Redirect"]


async def test_an_offer_made_before_the_flow_registers_the_caller_rings_the_agent() -> None:
    # The router offers the call between the enqueue's commit and the flow's
    # registration (the flow is still awaiting the pool's release): the offer must
    # not be dropped (left open until it times out, the agent's phone never rings).
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    call = caller_in_menu(calls)
    handling = asyncio.ensure_future(connector(calls, queue, ami).on_offer(offer()))
    await asyncio.sleep(0.05)
    assert not handling.done() and ami.actions == []

    calls.queued(call, 15, NOW)
    await asyncio.wait_for(handling, 1)

    assert redirected(ami) == ["ivr-connect"]
    assert ("Setvar", {"Channel": CHANNEL, "Variable": "IVR_DIAL", "Value": "PJSIP/1203"}) in (
        ami.actions
    )
    assert call.phase == "ringing" and call.offers == {7: 3}


async def test_an_offer_for_a_registered_caller_rings_at_once() -> None:
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    call = caller_in_menu(calls)
    calls.queued(call, 15, NOW)
    await asyncio.wait_for(connector(calls, queue, ami).on_offer(offer()), 1)
    assert redirected(ami) == ["ivr-connect"]


async def test_a_caller_gone_while_being_queued_is_not_rung() -> None:
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    caller_in_menu(calls)
    handling = asyncio.ensure_future(connector(calls, queue, ami).on_offer(offer()))
    await asyncio.sleep(0.02)
    calls.remove(CALL_ID)
    await asyncio.wait_for(handling, 1)
    assert ami.actions == []


async def test_an_offer_of_a_call_not_ours_is_left_alone() -> None:
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    await asyncio.wait_for(connector(calls, queue, ami).on_offer(offer()), 1)
    assert ami.actions == []


async def test_the_caller_is_marked_ringing_only_once_asterisk_took_the_redirect() -> None:
    # The flow leaves its waiting loop when it sees the call ringing (or redirecting)
    # and ends its AGI session, after which the dialplan hangs the caller up. Marked
    # before the Redirect is taken, a caller queued a moment ago (the flow not yet in
    # its first waiting command) was hung up before the Redirect: "No such channel".
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    call = caller_in_menu(calls)
    calls.queued(call, 15, NOW)
    ami.redirect_taken.clear()
    handling = asyncio.ensure_future(connector(calls, queue, ami).on_offer(offer()))
    await asyncio.sleep(0.05)
    assert redirected(ami) == ["ivr-connect"] and not handling.done()
    assert call.phase == "waiting" and not call.redirecting

    ami.redirect_taken.set()
    await asyncio.wait_for(handling, 1)
    assert call.phase == "ringing" and call.redirecting and call.offers == {7: 3}


async def test_a_caller_that_cannot_be_redirected_waits_again_and_the_offer_is_given_back() -> None:
    calls, queue, ami = CallRegistry(), FakeQueue(), FakeAmi()
    call = caller_in_menu(calls)
    calls.queued(call, 15, NOW)
    ami.fail_with = "No such channel"
    await asyncio.wait_for(connector(calls, queue, ami).on_offer(offer()), 1)
    assert call.phase == "waiting" and not call.redirecting and call.offers == {}
    assert queue.declined == [(7, 3)]
