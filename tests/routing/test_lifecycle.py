"""The life of an interaction through the real services on a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from routing.audit import audit
from routing.errors import InvalidTransition, NotYours, OfferClosed
from routing.events import (
    InteractionAbandoned,
    InteractionCompleted,
    InteractionQueued,
    InteractionRequeued,
    OfferAccepted,
    OfferCancelled,
    OfferDeclined,
    OfferMade,
    WrapUpStarted,
)
from tests.routing.helpers import Stack, add_agent, add_department, enqueue

CLEAN = {"double_offers": 0, "over_capacity": 0, "offers_to_unavailable": 0}


async def test_an_interaction_is_queued_offered_accepted_and_completed(stack: Stack) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    interaction = await enqueue(stack, department, "webchat", external_refs={"chat_id": "c1"})
    assert interaction.state == "queued"
    assert stack.of_type(InteractionQueued)[0].interaction_id == interaction.id

    result = await stack.route()
    assert result.offers == 1
    offer = stack.of_type(OfferMade)[0]
    assert (offer.interaction_id, offer.agent_id) == (interaction.id, agent)
    assert offer.external_refs == (("chat_id", "c1"),)

    async with stack.pool.acquire() as conn:
        accepted = await stack.service.accept(conn, offer.offer_id, agent)
        assert accepted.state == "accepted"
        assert (await stack.service.agent_state(conn, agent)).load == 20
        done = await stack.service.complete(conn, interaction.id, agent)
        assert done.state == "completed"
        assert (await stack.service.agent_state(conn, agent)).load == 0
        assert await audit(conn) == {
            "double_offers": 0,
            "over_capacity": 0,
            "offers_to_unavailable": 0,
        }
    assert stack.of_type(OfferAccepted)[0].offer_id == offer.offer_id
    assert stack.of_type(InteractionCompleted)[0].agent_id == agent


async def test_a_call_goes_through_wrap_up_and_keeps_its_units_until_it_ends(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department], wrapup_s=30)
    interaction = await enqueue(stack, department, "voice")
    await stack.route()
    offer = stack.of_type(OfferMade)[0]
    async with stack.pool.acquire() as conn:
        await stack.service.accept(conn, offer.offer_id, agent)
        wrap = await stack.service.complete(conn, interaction.id)
        assert wrap.state == "wrap_up"
        assert wrap.wrapup_until == stack.clock.now() + timedelta(seconds=30)
        assert (await stack.service.agent_state(conn, agent)).load == 60
        assert stack.of_type(WrapUpStarted)

        stack.clock.advance(timedelta(seconds=31))
        assert await stack.sweeper.sweep(conn) == 1
        assert (await stack.service.get_interaction(conn, interaction.id)).state == "completed"
        assert (await stack.service.agent_state(conn, agent)).load == 0


async def test_a_declined_offer_goes_to_the_next_agent(stack: Stack) -> None:
    department = await add_department(stack)
    first = await add_agent(stack, [department])
    second = await add_agent(stack, [department])
    interaction = await enqueue(stack, department)
    await stack.route()
    offer = stack.of_type(OfferMade)[-1]
    async with stack.pool.acquire() as conn:
        back = await stack.service.decline(conn, offer.offer_id, offer.agent_id)
        assert back.state == "queued"
        assert back.declined_by == (offer.agent_id,)
    assert stack.of_type(OfferDeclined)
    await stack.route()
    again = stack.of_type(OfferMade)[-1]
    assert again.interaction_id == interaction.id
    assert {again.agent_id, offer.agent_id} == {first, second}


async def test_only_the_agent_offered_may_accept_and_only_once(stack: Stack) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    other = await add_agent(stack, [department], status="offline")
    await enqueue(stack, department)
    await stack.route()
    offer = stack.of_type(OfferMade)[0]
    async with stack.pool.acquire() as conn:
        with pytest.raises(NotYours):
            await stack.service.accept(conn, offer.offer_id, other)
        await stack.service.accept(conn, offer.offer_id, agent)
        with pytest.raises(OfferClosed):
            await stack.service.accept(conn, offer.offer_id, agent)
        with pytest.raises(OfferClosed):
            await stack.service.decline(conn, offer.offer_id, agent)
        with pytest.raises(InvalidTransition):
            await stack.service.finish_wrapup(conn, offer.interaction_id)


async def test_an_abandoned_interaction_gives_back_the_units_of_its_ringing_offer(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    waiting = await enqueue(stack, department, "voice")
    ringing = await enqueue(stack, department, "voice")
    await stack.route()
    offer = stack.of_type(OfferMade)[0]
    assert offer.interaction_id == waiting.id
    async with stack.pool.acquire() as conn:
        assert (await stack.service.agent_state(conn, agent)).load == 60
        gone = await stack.service.abandon(conn, waiting.id, "caller hung up")
        assert (gone.state, gone.end_reason) == ("abandoned", "caller hung up")
        assert (await stack.service.agent_state(conn, agent)).load == 0
        left = await stack.service.abandon(conn, ringing.id)
        assert left.state == "abandoned"
        with pytest.raises(InvalidTransition):
            await stack.service.abandon(conn, ringing.id)
    assert [e.reason for e in stack.of_type(OfferCancelled)] == ["customer left"]
    assert len(stack.of_type(InteractionAbandoned)) == 2


async def test_a_requeued_interaction_keeps_its_place_and_goes_to_another_agent(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    first = await add_agent(stack, [department], capacity=20)
    early = await enqueue(stack, department)
    stack.clock.advance(timedelta(seconds=5))
    await stack.route()
    stack.clock.advance(timedelta(seconds=5))
    late = await enqueue(stack, department)
    offer = stack.of_type(OfferMade)[0]
    async with stack.pool.acquire() as conn:
        await stack.service.accept(conn, offer.offer_id, first)
        back = await stack.service.requeue(conn, early.id, "agent's browser closed")
        assert back.state == "requeued"
        assert (back.enqueued_at, back.rank_at) == (early.enqueued_at, early.rank_at)
        assert back.rank_at < late.rank_at
        assert (await stack.service.agent_state(conn, first)).load == 0
        await stack.service.set_agent_status(conn, first, "away")
    second = await add_agent(stack, [department], capacity=20)
    await stack.route()
    again = stack.of_type(OfferMade)[-1]
    assert (again.interaction_id, again.agent_id) == (early.id, second)
    assert stack.of_type(InteractionRequeued)[0].agent_id == first


async def test_an_agent_is_never_given_more_than_their_capacity(stack: Stack) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    for channel in ("voice", "webchat", "webchat", "webchat", "voice", "email"):
        await enqueue(stack, department, channel)
    await stack.route()
    offered = [(e.channel, e.agent_id) for e in stack.of_type(OfferMade)]
    assert offered == [("voice", agent), ("webchat", agent), ("webchat", agent)]
    async with stack.pool.acquire() as conn:
        assert (await stack.service.agent_state(conn, agent)).load == 100
        assert await audit(conn) == CLEAN


async def test_a_department_may_accept_chats_for_the_agent(stack: Stack) -> None:
    department = await add_department(stack, auto_accept=["webchat"])
    agent = await add_agent(stack, [department])
    chat = await enqueue(stack, department, "webchat")
    mail = await enqueue(stack, department, "email")
    await stack.route()
    accepted = stack.of_type(OfferAccepted)
    assert [(a.interaction_id, a.automatic) for a in accepted] == [(chat.id, True)]
    async with stack.pool.acquire() as conn:
        assert (await stack.service.get_interaction(conn, chat.id)).state == "accepted"
        assert (await stack.service.get_interaction(conn, mail.id)).state == "offered"
        assert (await stack.service.get_interaction(conn, chat.id)).agent_id == agent
