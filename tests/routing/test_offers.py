"""Offers: ring groups, timeouts and missed offers, agents who stop being available."""

from __future__ import annotations

from datetime import timedelta

import pytest

from routing.audit import audit
from routing.errors import OfferClosed
from routing.events import (
    AgentStatusChanged,
    OfferCancelled,
    OfferMade,
    OfferTimedOut,
)
from routing.models import MISSED_OFFERS_REASON
from tests.routing.helpers import Stack, add_agent, add_department, enqueue

CLEAN = {"double_offers": 0, "over_capacity": 0, "offers_to_unavailable": 0}


async def test_a_ring_group_rings_everyone_and_the_first_to_answer_takes_it(
    stack: Stack,
) -> None:
    department = await add_department(stack, mode="ring_group")
    agents = [await add_agent(stack, [department]) for _ in range(3)]
    call = await enqueue(stack, department, "voice")
    await stack.route()
    ringing = {e.agent_id: e.offer_id for e in stack.of_type(OfferMade)}
    assert set(ringing) == set(agents)
    async with stack.pool.acquire() as conn:
        taken = await stack.service.accept(conn, ringing[agents[1]], agents[1])
        assert (taken.state, taken.agent_id, taken.offer_id) == (
            "accepted",
            agents[1],
            ringing[agents[1]],
        )
        with pytest.raises(OfferClosed):
            await stack.service.accept(conn, ringing[agents[0]], agents[0])
        loads = [(await stack.service.agent_state(conn, a)).load for a in agents]
        assert loads == [0, 60, 0]
        assert await audit(conn) == CLEAN
    cancelled = stack.of_type(OfferCancelled)
    assert {c.agent_id for c in cancelled} == {agents[0], agents[2]}
    assert {c.interaction_id for c in cancelled} == {call.id}


async def test_a_ring_group_call_declined_by_all_rings_again(stack: Stack) -> None:
    department = await add_department(stack, mode="ring_group")
    agents = [await add_agent(stack, [department]) for _ in range(2)]
    call = await enqueue(stack, department, "voice")
    await stack.route()
    offers = stack.of_type(OfferMade)
    async with stack.pool.acquire() as conn:
        still = await stack.service.decline(conn, offers[0].offer_id, offers[0].agent_id)
        assert still.state == "offered"
        back = await stack.service.decline(conn, offers[1].offer_id, offers[1].agent_id)
        assert back.state == "queued"
    await stack.route()
    again = stack.of_type(OfferMade)[2:]
    assert {(e.interaction_id, e.agent_id) for e in again} == {(call.id, a) for a in agents}


async def test_an_unanswered_offer_times_out_to_the_next_agent(stack: Stack) -> None:
    department = await add_department(stack, offer_timeout_s={"webchat": 30})
    await add_agent(stack, [department])
    await add_agent(stack, [department])
    chat = await enqueue(stack, department)
    await stack.route()
    first = stack.of_type(OfferMade)[0]
    assert first.expires_at == stack.clock.now() + timedelta(seconds=30)
    async with stack.pool.acquire() as conn:
        stack.clock.advance(timedelta(seconds=29))
        assert await stack.sweeper.expire_offers(conn) == 0
        stack.clock.advance(timedelta(seconds=2))
        assert await stack.sweeper.expire_offers(conn) == 1
        missed = await stack.service.agent_state(conn, first.agent_id)
        assert (missed.load, missed.missed_offers) == (0, 1)
    assert stack.of_type(OfferTimedOut)[0].offer_id == first.offer_id
    await stack.route()
    second = stack.of_type(OfferMade)[1]
    assert second.interaction_id == chat.id
    assert second.agent_id != first.agent_id


async def test_an_agent_who_misses_offers_in_a_row_is_paused(stack: Stack) -> None:
    department = await add_department(stack, offer_timeout_s={"webchat": 10})
    agent = await add_agent(stack, [department])
    for _ in range(3):
        await enqueue(stack, department)
        await stack.route()
        stack.clock.advance(timedelta(seconds=11))
        async with stack.pool.acquire() as conn:
            await stack.sweeper.expire_offers(conn)
    async with stack.pool.acquire() as conn:
        state = await stack.service.agent_state(conn, agent)
        assert (state.status, state.pause_reason) == ("paused", MISSED_OFFERS_REASON)
        assert state.load == 0
        assert await audit(conn) == CLEAN
    assert stack.of_type(AgentStatusChanged)[-1].reason == MISSED_OFFERS_REASON
    await stack.route()
    assert len(stack.of_type(OfferMade)) == 3, "a paused agent gets no offers"


async def test_answering_resets_the_count_of_missed_offers(stack: Stack) -> None:
    department = await add_department(stack, offer_timeout_s={"webchat": 10})
    agent = await add_agent(stack, [department])
    await enqueue(stack, department)
    await stack.route()
    stack.clock.advance(timedelta(seconds=11))
    async with stack.pool.acquire() as conn:
        await stack.sweeper.expire_offers(conn)
    await stack.route()
    offer = stack.of_type(OfferMade)[-1]
    async with stack.pool.acquire() as conn:
        assert (await stack.service.agent_state(conn, agent)).missed_offers == 1
        await stack.service.accept(conn, offer.offer_id, agent)
        assert (await stack.service.agent_state(conn, agent)).missed_offers == 0


async def test_an_agent_going_away_loses_ringing_offers_but_keeps_accepted_ones(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    kept = await enqueue(stack, department)
    ringing = await enqueue(stack, department)
    await stack.route()
    offers = {e.interaction_id: e.offer_id for e in stack.of_type(OfferMade)}
    async with stack.pool.acquire() as conn:
        await stack.service.accept(conn, offers[kept.id], agent)
        state = await stack.service.set_agent_status(conn, agent, "away")
        assert (state.status, state.load) == ("away", 20)
        assert (await stack.service.get_interaction(conn, ringing.id)).state == "queued"
        assert (await stack.service.get_interaction(conn, kept.id)).state == "accepted"
        with pytest.raises(ValueError):
            await stack.service.set_agent_status(conn, agent, "paused")
        with pytest.raises(ValueError):
            await stack.service.set_agent_status(conn, agent, "available", "because")
    assert [c.interaction_id for c in stack.of_type(OfferCancelled)] == [ringing.id]
    assert stack.of_type(AgentStatusChanged)[-1].status == "away"


async def test_offers_lost_by_a_dead_process_are_recovered_by_the_sweep(stack: Stack) -> None:
    """Nobody answers: whoever runs the next sweep (any process, or this one at restart)
    times the offers out and the interactions go to the queue again."""
    department = await add_department(stack, offer_timeout_s={"voice": 20})
    agent = await add_agent(stack, [department])
    call = await enqueue(stack, department, "voice")
    await stack.route()
    stack.clock.advance(timedelta(seconds=21))
    async with stack.pool.acquire() as conn:
        assert await stack.sweeper.sweep(conn) == 1
        assert (await stack.service.get_interaction(conn, call.id)).state == "queued"
        assert (await stack.service.agent_state(conn, agent)).load == 0
