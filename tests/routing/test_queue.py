"""The queue: order and aging, positions and waits, max wait, settings changed live."""

from __future__ import annotations

from datetime import timedelta

from routing.events import (
    InteractionChannelChanged,
    InteractionExpired,
    InteractionOverflowed,
    OfferCancelled,
    OfferMade,
)
from tests.routing.helpers import Stack, add_agent, add_department, enqueue


async def serve_one(stack: Stack, agent: int) -> int:
    """Route, and let ``agent`` take and finish what it was offered; the interaction id."""
    result = await stack.route()
    (offer,) = [e for e in result.events if isinstance(e, OfferMade)]
    async with stack.pool.acquire() as conn:
        await stack.service.accept(conn, offer.offer_id, agent)
        await stack.service.complete(conn, offer.interaction_id, agent)
    return offer.interaction_id


async def test_a_low_priority_channel_is_served_under_constant_high_priority_load(
    stack: Stack,
) -> None:
    """One agent; an e-mail waits while two calls arrive for every one served. Calls that
    arrive more than their head start (6 steps of 5 s) after the e-mail rank behind it."""
    one_at_a_time = {"voice": 100, "email": 100}
    department = await add_department(stack, priority_step_s=5, channel_costs=one_at_a_time)
    agent = await add_agent(stack, [department])
    mail = await enqueue(stack, department, "email")
    served = []
    for _ in range(100):
        stack.clock.advance(timedelta(seconds=1))
        await enqueue(stack, department, "voice")
        await enqueue(stack, department, "voice")
        served.append(await serve_one(stack, agent))
        if served[-1] == mail.id:
            break
    assert served[-1] == mail.id, "the e-mail starved"
    assert len(served) <= 2 * 30 + 1


async def test_calls_go_before_chats_but_a_chat_waiting_long_enough_goes_first(
    stack: Stack,
) -> None:
    one_at_a_time = {"voice": 100, "webchat": 100}
    department = await add_department(stack, priority_step_s=10, channel_costs=one_at_a_time)
    agent = await add_agent(stack, [department])
    old_chat = await enqueue(stack, department, "webchat")
    stack.clock.advance(timedelta(seconds=60))
    call = await enqueue(stack, department, "voice")
    new_chat = await enqueue(stack, department, "webchat")
    order = [await serve_one(stack, agent) for _ in range(3)]
    assert order == [old_chat.id, call.id, new_chat.id]


async def test_position_and_estimated_wait_come_from_the_queue_and_handle_times(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department], capacity=20)
    first = await enqueue(stack, department)
    await stack.route()
    offer = stack.of_type(OfferMade)[0]
    async with stack.pool.acquire() as conn:
        await stack.service.accept(conn, offer.offer_id, agent)
        stack.clock.advance(timedelta(seconds=90))
        await stack.service.complete(conn, first.id)
    queued = [await enqueue(stack, department) for _ in range(3)]
    async with stack.pool.acquire() as conn:
        positions = [await stack.overview.position_and_wait(conn, q.id) for q in queued]
        assert [p.position for p in positions] == [1, 2, 3]
        # One agent, one chat at a time, 90 s per chat.
        assert [p.estimated_wait_s for p in positions] == [90.0, 180.0, 270.0]
        await stack.service.set_agent_status(conn, agent, "offline")
        assert (await stack.overview.position_and_wait(conn, queued[0].id)).estimated_wait_s is None
        done = await stack.overview.position_and_wait(conn, first.id)
        assert (done.state, done.position) == ("completed", None)


async def test_the_supervisor_board_counts_waiting_and_in_service_per_channel(
    stack: Stack,
) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department], capacity=20)
    await enqueue(stack, department, "webchat")
    stack.clock.advance(timedelta(seconds=30))
    await enqueue(stack, department, "webchat")
    await enqueue(stack, department, "voice")
    await stack.route()
    stack.clock.advance(timedelta(seconds=10))
    async with stack.pool.acquire() as conn:
        board = await stack.overview.board(conn, [department])
    queues = {q.channel: q for q in board.queues}
    assert (queues["webchat"].waiting, queues["webchat"].in_service) == (1, 1)
    assert queues["webchat"].longest_wait_s == 10.0
    assert (queues["voice"].waiting, queues["voice"].longest_wait_s) == (1, 10.0)
    (row,) = board.agents
    assert (row.agent_id, row.load, row.offered, row.handling) == (agent, 20, 1, 0)


async def test_changed_channel_priorities_reorder_the_waiting_interactions_at_once(
    stack: Stack,
) -> None:
    department = await add_department(
        stack, priority_step_s=60, channel_costs={"webchat": 100, "email": 100}
    )
    agent = await add_agent(stack, [department])
    mail = await enqueue(stack, department, "email")
    chat = await enqueue(stack, department, "webchat")
    async with stack.pool.acquire() as conn:
        assert (await stack.overview.position_and_wait(conn, chat.id)).position == 1
        await stack.admin.update_department(
            conn, department, changes={"channel_priority": ["email", "webchat"]}
        )
        assert (await stack.overview.position_and_wait(conn, mail.id)).position == 1
    assert await serve_one(stack, agent) == mail.id


async def test_past_max_wait_an_interaction_expires_with_its_overflow_target(
    stack: Stack,
) -> None:
    department = await add_department(stack, max_wait_s=60, overflow_target="voicemail")
    call = await enqueue(stack, department, "voice")
    stack.clock.advance(timedelta(seconds=61))
    await add_agent(stack, [department])
    await stack.route()
    assert stack.of_type(OfferMade) == [], "no offer past the max wait"
    async with stack.pool.acquire() as conn:
        await stack.sweeper.sweep(conn)
        expired = await stack.service.get_interaction(conn, call.id)
    assert (expired.state, expired.overflow_target) == ("expired", "voicemail")
    assert stack.of_type(InteractionExpired)[0].overflow_target == "voicemail"


async def test_past_max_wait_an_interaction_overflows_to_another_department(
    stack: Stack,
) -> None:
    backup = await add_department(stack)
    department = await add_department(stack, max_wait_s=60, overflow_target=f"department:{backup}")
    chat = await enqueue(stack, department)
    stack.clock.advance(timedelta(seconds=61))
    async with stack.pool.acquire() as conn:
        await stack.sweeper.sweep(conn)
        moved = await stack.service.get_interaction(conn, chat.id)
    assert (moved.state, moved.department_id) == ("queued", backup)
    assert moved.enqueued_at == chat.enqueued_at
    assert stack.of_type(InteractionOverflowed)[0].to_department_id == backup
    helper = await add_agent(stack, [backup])
    await stack.route()
    assert stack.of_type(OfferMade)[0].agent_id == helper


async def test_a_ringing_call_past_max_wait_can_be_ended_at_once(stack: Stack) -> None:
    department = await add_department(stack, max_wait_s=30, overflow_target="voicemail")
    agent = await add_agent(stack, [department])
    call = await enqueue(stack, department, "voice")
    await stack.route()
    async with stack.pool.acquire() as conn:
        assert await stack.service.expire_due(conn, call.id) is None
        stack.clock.advance(timedelta(seconds=31))
        expired = await stack.service.expire_due(conn, call.id)
        assert expired is not None and expired.state == "expired"
        assert (await stack.service.agent_state(conn, agent)).load == 0
    assert stack.of_type(OfferCancelled)[0].reason == "max wait"


async def test_a_call_turned_callback_keeps_its_place(stack: Stack) -> None:
    department = await add_department(stack)
    call = await enqueue(stack, department, "voice", external_refs={"call_id": "c-1"})
    stack.clock.advance(timedelta(seconds=30))
    later = await enqueue(stack, department, "callback")
    async with stack.pool.acquire() as conn:
        callback = await stack.service.change_channel(
            conn, call.id, "callback", {"phone": "+79123456789"}
        )
        assert (callback.channel, callback.state) == ("callback", "queued")
        assert callback.enqueued_at == call.enqueued_at
        assert callback.external_refs == {"call_id": "c-1", "phone": "+79123456789"}
        assert (await stack.overview.position_and_wait(conn, later.id)).position == 2
    assert stack.of_type(InteractionChannelChanged)[0].to_channel == "callback"


async def test_a_sticky_interaction_waits_for_its_manager_for_a_while(stack: Stack) -> None:
    department = await add_department(stack, sticky_s=60)
    manager = await add_agent(stack, [department], status="away")
    other = await add_agent(stack, [department])
    chat = await enqueue(stack, department, preferred_agent_id=manager)
    await stack.route()
    assert stack.of_type(OfferMade) == []
    stack.clock.advance(timedelta(seconds=61))
    await stack.route()
    (offer,) = stack.of_type(OfferMade)
    assert (offer.interaction_id, offer.agent_id) == (chat.id, other)
