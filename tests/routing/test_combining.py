"""Calls of one kind made at the same time share one statement (group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
import pytest

from routing.audit import audit
from routing.combining import Combiner
from routing.errors import OfferClosed
from routing.events import InteractionCompleted, InteractionQueued, OfferAccepted, OfferMade
from routing.models import NewInteraction
from tests.routing.helpers import Stack, add_agent, add_customer, add_department, enqueue

CLEAN = {"double_offers": 0, "over_capacity": 0, "offers_to_unavailable": 0}


class Recorder:
    """A statement that doubles numbers, remembering the batches it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, _conn: object, items: Sequence[int]) -> list[int | None]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("statement failed")
        return [None if i < 0 else 2 * i for i in items]


async def test_a_call_alone_is_a_statement_of_its_own() -> None:
    run = Recorder()
    combiner = Combiner("double", run)
    assert await combiner.submit(None, 1) == 2
    assert await combiner.submit(None, 2) == 4
    assert run.batches == [[1], [2]]


async def test_calls_arriving_while_a_statement_runs_share_the_next_one() -> None:
    run = Recorder()
    run.release.clear()
    combiner = Combiner("double", run, overlap=1)
    first = asyncio.create_task(combiner.submit(None, 1))
    await asyncio.sleep(0)
    others = [asyncio.create_task(combiner.submit(None, n)) for n in (2, -3, 4)]
    await asyncio.sleep(0)
    run.release.set()
    assert await first == 2
    assert await asyncio.gather(*others) == [4, None, 8]
    assert run.batches == [[1], [2, -3, 4]]
    assert (combiner.statements, combiner.items) == (2, 4)


async def test_two_statements_run_at_once_and_the_calls_after_them_share_the_next_two() -> None:
    run = Recorder()
    run.release.clear()
    combiner = Combiner("double", run, overlap=2)
    calls = []
    for n in range(1, 6):
        calls.append(asyncio.create_task(combiner.submit(None, n)))
        await asyncio.sleep(0)
    assert run.batches == [[1], [2]]
    run.release.set()
    assert await asyncio.gather(*calls) == [2, 4, 6, 8, 10]
    # Each of the two statements over hands the next to a waiting call.
    assert len(run.batches) == 4
    assert sorted(n for batch in run.batches[2:] for n in batch) == [3, 4, 5]


async def test_a_failed_statement_sends_every_caller_its_own_way() -> None:
    run = Recorder(fail=True)
    run.release.clear()
    combiner = Combiner("double", run, overlap=1)
    first = asyncio.create_task(combiner.submit(None, 1))
    await asyncio.sleep(0)
    others = [asyncio.create_task(combiner.submit(None, n)) for n in (2, 3)]
    await asyncio.sleep(0)
    run.release.set()
    assert await asyncio.gather(first, *others) == [None, None, None]
    run.fail = False
    assert await combiner.submit(None, 5) == 10, "the next call is not stuck"


async def busy_combiner(run: Recorder, linger_s: float) -> Combiner:
    """A combiner whose last statement had company (calls arrive faster than it ends)."""
    run.release.clear()
    combiner = Combiner("double", run, overlap=1, linger_s=linger_s)
    first = asyncio.create_task(combiner.submit(None, 1))
    await asyncio.sleep(0)
    company = [asyncio.create_task(combiner.submit(None, n)) for n in (2, 3)]
    await asyncio.sleep(0)
    run.release.set()
    assert await asyncio.gather(first, *company) == [2, 4, 6]
    assert run.batches == [[1], [2, 3]]
    return combiner


async def test_under_load_the_next_statement_lingers_for_calls_to_join_it() -> None:
    run = Recorder()
    combiner = await busy_combiner(run, linger_s=0.05)
    lead = asyncio.create_task(combiner.submit(None, 4))
    await asyncio.sleep(0.01)
    # Arriving after the statement's caller, while it lingers: they share its statement.
    later = [asyncio.create_task(combiner.submit(None, n)) for n in (5, 6)]
    assert await asyncio.gather(lead, *later) == [8, 10, 12]
    assert run.batches[2:] == [[4, 5, 6]]


async def test_a_call_after_a_statement_without_company_does_not_linger() -> None:
    run = Recorder()
    combiner = Combiner("double", run, overlap=1, linger_s=30)
    assert await combiner.submit(None, 1) == 2
    assert await asyncio.wait_for(combiner.submit(None, 2), timeout=5) == 4
    assert run.batches == [[1], [2]]


async def test_a_caller_cancelled_while_lingering_hands_on_its_statement() -> None:
    run = Recorder()
    combiner = await busy_combiner(run, linger_s=0.2)
    lead = asyncio.create_task(combiner.submit(None, 4))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(combiner.submit(None, 5))
    await asyncio.sleep(0)
    lead.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lead
    assert await asyncio.wait_for(waiting, timeout=5) == 10
    assert run.batches[2:] == [[5]]


async def test_a_cancelled_caller_leaves_the_others_their_statement() -> None:
    run = Recorder()
    run.release.clear()
    combiner = Combiner("double", run, overlap=1)
    first = asyncio.create_task(combiner.submit(None, 1))
    await asyncio.sleep(0)
    second = asyncio.create_task(combiner.submit(None, 2))
    third = asyncio.create_task(combiner.submit(None, 3))
    await asyncio.sleep(0)
    run.release.set()
    assert await first == 2
    # The second leads the next statement; cancelled, it still runs it for the third.
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await third == 6
    assert await combiner.submit(None, 4) == 8


@asynccontextmanager
async def connections(stack: Stack, n: int) -> AsyncIterator[list[asyncpg.Connection]]:
    """``n`` connections held at once, so that calls on them run side by side."""
    async with AsyncExitStack() as held:
        yield [await held.enter_async_context(stack.pool.acquire()) for _ in range(n)]


async def test_agents_accepting_and_completing_at_once_share_statements(stack: Stack) -> None:
    department = await add_department(stack)
    # Two agents with two chats each, and a caller whose call has wrap-up time.
    chatters = [await add_agent(stack, [department], capacity=40) for _ in range(2)]
    caller = await add_agent(stack, [department], capacity=60, wrapup_s=30)
    for _ in range(4):
        await enqueue(stack, department, "webchat")
    await enqueue(stack, department, "voice")
    await stack.route()
    offers = stack.of_type(OfferMade)
    assert sorted(o.agent_id for o in offers) == sorted([*chatters, *chatters, caller])

    async with connections(stack, len(offers)) as conns:
        accepted = await asyncio.gather(
            *(
                stack.service.accept(c, o.offer_id, o.agent_id)
                for c, o in zip(conns, offers, strict=True)
            )
        )
        assert [a.state for a in accepted] == ["accepted"] * 5
        assert stack.service.accepts.statements < len(offers)
        done = await asyncio.gather(
            *(
                stack.service.complete(c, o.interaction_id, o.agent_id)
                for c, o in zip(conns, offers, strict=True)
            )
        )
        assert stack.service.completions.statements < len(offers)
        states = {d.id: d.state for d in done}
        for offer in offers:
            expected = "wrap_up" if offer.agent_id == caller else "completed"
            assert states[offer.interaction_id] == expected
        loads = {a: (await stack.service.agent_state(conns[0], a)).load for a in chatters}
        assert loads == dict.fromkeys(chatters, 0)
        assert (await stack.service.agent_state(conns[0], caller)).load == 60
        assert await audit(conns[0]) == CLEAN
    assert sorted(e.offer_id for e in stack.of_type(OfferAccepted)) == sorted(
        o.offer_id for o in offers
    )
    assert len(stack.of_type(InteractionCompleted)) == 4


async def test_operators_without_connections_share_one_for_their_statements(
    stack: Stack, db_dsn: str
) -> None:
    """accept_from / complete_from: a connection is taken only by the call that runs the
    statement, so five operators at once need one — and get what accept and complete give."""
    department = await add_department(stack)
    chatters = [await add_agent(stack, [department], capacity=40) for _ in range(2)]
    caller = await add_agent(stack, [department], capacity=60, wrapup_s=30)
    for _ in range(4):
        await enqueue(stack, department, "webchat")
    await enqueue(stack, department, "voice")
    await stack.route()
    offers = stack.of_type(OfferMade)
    assert len(offers) == 5

    one = await asyncpg.create_pool(db_dsn, min_size=1, max_size=1)
    try:
        accepted = await asyncio.wait_for(
            asyncio.gather(
                *(stack.service.accept_from(one, o.offer_id, o.agent_id) for o in offers)
            ),
            timeout=30,
        )
        assert [a.state for a in accepted] == ["accepted"] * 5
        assert stack.service.accepts.statements < len(offers)
        done = await asyncio.wait_for(
            asyncio.gather(
                *(stack.service.complete_from(one, o.interaction_id, o.agent_id) for o in offers)
            ),
            timeout=30,
        )
        states = {d.id: d.state for d in done}
        for offer in offers:
            expected = "wrap_up" if offer.agent_id == caller else "completed"
            assert states[offer.interaction_id] == expected
        # Taken already: the one-call path says why, on a connection of its own.
        with pytest.raises(OfferClosed):
            await stack.service.accept_from(one, offers[0].offer_id, offers[0].agent_id)
        async with one.acquire() as conn:
            loads = {a: (await stack.service.agent_state(conn, a)).load for a in chatters}
            assert loads == dict.fromkeys(chatters, 0)
            assert await audit(conn) == CLEAN
    finally:
        await one.close()
    assert sorted(e.offer_id for e in stack.of_type(OfferAccepted)) == sorted(
        o.offer_id for o in offers
    )
    assert len(stack.of_type(InteractionCompleted)) == 4


async def test_one_offer_accepted_twice_at_once_is_taken_once(stack: Stack) -> None:
    department = await add_department(stack)
    agent = await add_agent(stack, [department])
    await enqueue(stack, department, "webchat")
    await stack.route()
    (offer,) = stack.of_type(OfferMade)
    async with connections(stack, 2) as conns:
        results = await asyncio.gather(
            *(stack.service.accept(c, offer.offer_id, agent) for c in conns),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["Interaction", "OfferClosed"]
        assert isinstance(next(r for r in results if isinstance(r, Exception)), OfferClosed)
        assert (await stack.service.agent_state(conns[0], agent)).load == 20
        assert await audit(conns[0]) == CLEAN
    assert len(stack.of_type(OfferAccepted)) == 1


async def test_contacts_arriving_at_once_keep_their_own_errors(stack: Stack) -> None:
    department = await add_department(stack)
    customers = [await add_customer(stack) for _ in range(3)]
    arrivals = [NewInteraction("webchat", c, department) for c in customers]
    # A customer nobody has: only this contact fails.
    arrivals.insert(1, NewInteraction("sms", 10**12, department))
    async with connections(stack, len(arrivals)) as conns:
        results = await asyncio.gather(
            *(stack.service.enqueue(c, n) for c, n in zip(conns, arrivals, strict=True)),
            return_exceptions=True,
        )
    assert isinstance(results[1], asyncpg.ForeignKeyViolationError)
    queued = [r for r in results if not isinstance(r, Exception)]
    assert [q.customer_id for q in queued] == customers
    assert all(q.state == "queued" for q in queued)
    assert sorted(e.interaction_id for e in stack.of_type(InteractionQueued)) == sorted(
        q.id for q in queued
    )
