"""The routing service: the lifecycle of interactions and offers, and agents' status.

This is what other features call: ``enqueue`` a contact, ``accept``/``decline`` an
offer, ``complete`` a conversation, ``finish_wrapup``, ``abandon``, ``requeue``, change an
agent's status. Each call takes a connection, runs in its own transaction (or in the
caller's, see routing.outbox) and publishes its domain events once committed. The router
(routing.router) is woken by those events; it makes the offers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from server.config import TimersConfig

from . import repository
from .combining import Combiner
from .config import RoutingConfig
from .directory import Department, DepartmentDirectory
from .errors import (
    AgentNotFound,
    InteractionNotFound,
    NotYours,
    OfferClosed,
    OfferNotFound,
)
from .events import (
    AgentStatusChanged,
    InteractionAbandoned,
    InteractionChannelChanged,
    InteractionCompleted,
    InteractionExpired,
    InteractionOverflowed,
    InteractionQueued,
    InteractionRequeued,
    OfferAccepted,
    OfferCancelled,
    OfferDeclined,
    WrapUpStarted,
)
from .models import (
    AGENT_STATUSES,
    AgentState,
    AgentStatus,
    Channel,
    Interaction,
    NewInteraction,
    Offer,
)
from .outbox import EventOutbox
from .priority import rank_time
from .repository import interaction_from_row
from .states import WAITING, Action, transition

_MAX_PRIORITY = 100
MAX_WAIT_REASON = "max wait"
_EXPIRABLE = (*WAITING, "offered")
_FINISH_ATTEMPTS = 5


def agent_state_from_row(row: asyncpg.Record) -> AgentState:
    return AgentState(
        agent_id=row["user_id"],
        status=row["status"],
        pause_reason=row["pause_reason"],
        status_changed_at=row["status_changed_at"],
        capacity=row["capacity"],
        load=row["load"],
        missed_offers=row["missed_offers"],
    )


def offer_from_row(row: asyncpg.Record) -> Offer:
    return Offer(
        id=row["id"],
        interaction_id=row["interaction_id"],
        agent_id=row["agent_id"],
        cost=row["cost"],
        mode=row["mode"],
        state=row["state"],
        offered_at=row["offered_at"],
        expires_at=row["expires_at"],
        channel=row["channel"],
    )


class RoutingService:
    def __init__(
        self,
        outbox: EventOutbox,
        directory: DepartmentDirectory,
        config: RoutingConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.outbox = outbox
        self._directory = directory
        self._config = config
        self._timers = timers
        self._clock = clock
        # Calls of these kinds made at the same time share a statement (routing.combining).
        self.enqueues = Combiner("enqueue", self._enqueue_together)
        # Arrivals are not held back: a contact waits for an agent, not for company.
        linger = config.combine_linger_s
        self.accepts = Combiner("accept", self._accept_together, linger_s=linger)
        self.completions = Combiner("complete", self._complete_together, linger_s=linger)

    def transaction(self, conn: asyncpg.Connection) -> AbstractAsyncContextManager[None]:
        """One transaction for the caller's own writes and routing calls together."""
        return self.outbox.transaction(conn)

    # --- interactions ----------------------------------------------------------------

    async def enqueue(self, conn: asyncpg.Connection, new: NewInteraction) -> Interaction:
        """Put a contact in the queue of its department; returns the queued interaction."""
        if not 0 <= new.priority <= _MAX_PRIORITY:
            raise ValueError(f"priority must be between 0 and {_MAX_PRIORITY}")
        department = await self._directory.get(conn, new.department_id)
        settings = department.settings
        now = self._clock()
        rank_at = rank_time(
            now, new.channel, new.priority, settings.channel_priority, settings.priority_step_s
        )
        deadline = now + timedelta(seconds=settings.max_wait_s) if settings.max_wait_s else None
        sticky_s = new.sticky_s if new.sticky_s is not None else settings.sticky_s
        sticky_until = (
            now + timedelta(seconds=sticky_s)
            if new.preferred_agent_id is not None and sticky_s > 0
            else None
        )
        fields = {
            "channel": new.channel,
            "customer_id": new.customer_id,
            "department_id": new.department_id,
            "skills": new.skills,
            "priority": new.priority,
            "enqueued_at": now,
            "rank_at": rank_at,
            "settings_version": department.version,
            "wait_deadline": deadline,
            "preferred_agent_id": new.preferred_agent_id,
            "sticky_until": sticky_until,
            "external_refs": new.external_refs,
        }
        async with self.outbox.unit(conn, single_statement=True) as events:
            row = None
            if not conn.is_in_transaction():
                row = await self.enqueues.submit(conn, fields)
            if row is None:
                row = await repository.insert_interaction(conn, **fields)
            interaction = interaction_from_row(row)
            events.append(
                InteractionQueued(
                    interaction_id=interaction.id,
                    channel=interaction.channel,
                    customer_id=interaction.customer_id,
                    department_id=interaction.department_id,
                    priority=interaction.priority,
                    enqueued_at=interaction.enqueued_at,
                )
            )
        return interaction

    async def get_interaction(self, conn: asyncpg.Connection, interaction_id: int) -> Interaction:
        row = await repository.get_interaction(conn, interaction_id)
        if row is None:
            raise InteractionNotFound(interaction_id)
        return interaction_from_row(row)

    async def accept(self, conn: asyncpg.Connection, offer_id: int, agent_id: int) -> Interaction:
        """``agent_id`` takes the interaction of an open offer; in a ring group the other
        agents' offers are withdrawn."""
        now = self._clock()
        async with self.outbox.unit(conn, single_statement=True) as events:
            if conn.is_in_transaction():
                row = await repository.accept_queue_offer(conn, offer_id, agent_id, now)
            else:
                row = await self.accepts.submit(conn, (offer_id, agent_id))
            if row is not None:
                interaction = interaction_from_row(row)
                events.append(_accepted(offer_id, agent_id, interaction))
        if row is None:
            return await self._accept_in_general(conn, offer_id, agent_id, now)
        return interaction

    async def accept_from(self, pool: asyncpg.Pool, offer_id: int, agent_id: int) -> Interaction:
        """``accept`` for a caller without a connection (an operator's request): a
        connection is taken from ``pool`` only to run a statement, so calls made at the
        same time share one statement and one connection (routing.combining)."""
        now = self._clock()
        row = await self.accepts.submit_from(pool, (offer_id, agent_id))
        if row is None:
            async with pool.acquire() as conn:
                return await self._accept_in_general(conn, offer_id, agent_id, now)
        interaction = interaction_from_row(row)
        self.outbox.published([_accepted(offer_id, agent_id, interaction)])
        return interaction

    async def _accept_in_general(
        self, conn: asyncpg.Connection, offer_id: int, agent_id: int, now: datetime
    ) -> Interaction:
        """Ring-group offers, and finding out why a queue-mode offer could not be taken."""
        async with self.outbox.unit(conn) as events:
            offer = await self._own_offer(conn, offer_id, agent_id)
            locked = await repository.lock_interaction(conn, offer["interaction_id"])
            assert locked is not None
            offers = await repository.open_offers_of_interaction(conn, offer["interaction_id"])
            mine = next((o for o in offers if o["id"] == offer_id), None)
            if mine is None or mine["state"] != "offered":
                current = await repository.get_offer(conn, offer_id)
                assert current is not None
                raise OfferClosed(offer_id, current["state"])
            state = transition(locked["state"], "accept")
            others = [o for o in offers if o["id"] != offer_id]
            await repository.lock_agents(conn, [agent_id, *(o["agent_id"] for o in others)])
            await repository.set_offer_state(conn, [offer_id], "accepted", now)
            ended = await repository.end_offers(
                conn, [o["id"] for o in others], "offered", "cancelled", now
            )
            await repository.reset_missed_offers(conn, agent_id)
            row = await repository.update_interaction(
                conn,
                locked["id"],
                now,
                state=state,
                agent_id=agent_id,
                offer_id=offer_id,
                accepted_at=now,
            )
            events.append(
                OfferAccepted(
                    offer_id=offer_id,
                    interaction_id=locked["id"],
                    agent_id=agent_id,
                    channel=locked["channel"],
                    customer_id=locked["customer_id"],
                    at=now,
                )
            )
            events.extend(
                OfferCancelled(e["id"], e["interaction_id"], e["agent_id"], "taken by another", now)
                for e in ended
            )
        return interaction_from_row(row)

    async def decline(self, conn: asyncpg.Connection, offer_id: int, agent_id: int) -> Interaction:
        """The agent says no: the interaction goes to the next agent (not this one, unless
        nobody else can take it)."""
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            offer = await self._own_offer(conn, offer_id, agent_id)
            locked = await repository.lock_interaction(conn, offer["interaction_id"])
            assert locked is not None
            await repository.lock_agents(conn, [agent_id])
            ended = await repository.end_offers(conn, [offer_id], "offered", "declined", now)
            if not ended:
                current = await repository.get_offer(conn, offer_id)
                assert current is not None
                raise OfferClosed(offer_id, current["state"])
            await repository.reset_missed_offers(conn, agent_id)
            row = await after_offers_ended(conn, locked, "decline", [agent_id], now)
            events.append(OfferDeclined(offer_id, locked["id"], agent_id, now))
        return interaction_from_row(row)

    async def complete(
        self, conn: asyncpg.Connection, interaction_id: int, agent_id: int | None = None
    ) -> Interaction:
        """The conversation ended: a call goes to wrap-up for the agent's wrap-up time,
        anything else is completed and gives its units back. ``agent_id``: only if it is
        this agent's."""
        return await self._finish(conn, interaction_id, "accepted", "complete", agent_id)

    async def finish_wrapup(
        self, conn: asyncpg.Connection, interaction_id: int, agent_id: int | None = None
    ) -> Interaction:
        """The agent is done with the call's paperwork: completed, units given back."""
        return await self._finish(conn, interaction_id, "wrap_up", "finish_wrapup", agent_id)

    async def complete_from(
        self, pool: asyncpg.Pool, interaction_id: int, agent_id: int | None = None
    ) -> Interaction:
        """``complete`` for a caller without a connection, as ``accept_from``."""
        row = await self.completions.submit_from(pool, (interaction_id, agent_id))
        if row is not None:
            finished = interaction_from_row(row)
            self.outbox.published(
                [self._finished_event(finished, finished.ended_at or self._clock())]
            )
            return finished
        async with pool.acquire() as conn:
            return await self._finish_alone(conn, interaction_id, "accepted", "complete", agent_id)

    async def _finish(
        self,
        conn: asyncpg.Connection,
        interaction_id: int,
        from_state: str,
        action: Action,
        agent_id: int | None,
    ) -> Interaction:
        if action == "complete" and not conn.is_in_transaction():
            async with self.outbox.unit(conn, single_statement=True) as events:
                row = await self.completions.submit(conn, (interaction_id, agent_id))
                if row is not None:
                    finished = interaction_from_row(row)
                    events.append(
                        self._finished_event(finished, finished.ended_at or self._clock())
                    )
            if row is not None:
                return finished
        return await self._finish_alone(conn, interaction_id, from_state, action, agent_id)

    async def _finish_alone(
        self,
        conn: asyncpg.Connection,
        interaction_id: int,
        from_state: str,
        action: Action,
        agent_id: int | None,
    ) -> Interaction:
        """One interaction finished in a statement of its own, finding out why not."""
        for _attempt in range(_FINISH_ATTEMPTS):
            now = self._clock()
            async with self.outbox.unit(conn, single_statement=True) as events:
                row = await repository.finish(
                    conn, interaction_id, from_state, agent_id, now, self._timers.wrapup_s
                )
                if row is not None:
                    events.append(self._finished_event(interaction_from_row(row), now))
            if row is not None:
                return interaction_from_row(row)
            current = await self.get_interaction(conn, interaction_id)
            transition(current.state, action)
            if agent_id is not None and current.agent_id != agent_id:
                raise NotYours(f"interaction {interaction_id} is not with agent {agent_id}")
            # Still finishable: it changed between the statement's read and its lock.
        raise RuntimeError(f"interaction {interaction_id} kept changing; not finished")

    @staticmethod
    def _finished_event(interaction: Interaction, now: datetime) -> object:
        assert interaction.agent_id is not None
        if interaction.state == "wrap_up":
            assert interaction.wrapup_until is not None
            return WrapUpStarted(interaction.id, interaction.agent_id, interaction.wrapup_until)
        return InteractionCompleted(
            interaction_id=interaction.id,
            channel=interaction.channel,
            customer_id=interaction.customer_id,
            agent_id=interaction.agent_id,
            at=now,
        )

    async def abandon(
        self, conn: asyncpg.Connection, interaction_id: int, reason: str = "customer left"
    ) -> Interaction:
        """The customer left before being served (hung up in the queue, closed the chat)."""
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            locked = await self._lock(conn, interaction_id)
            state = transition(locked["state"], "abandon")
            events.extend(await withdraw_offers(conn, locked["id"], "customer left", now))
            row = await repository.update_interaction(
                conn,
                locked["id"],
                now,
                state=state,
                agent_id=None,
                offer_id=None,
                ended_at=now,
                end_reason=reason,
            )
            events.append(
                InteractionAbandoned(
                    locked["id"], locked["channel"], locked["customer_id"], reason, now
                )
            )
        return interaction_from_row(row)

    async def requeue(
        self, conn: asyncpg.Connection, interaction_id: int, reason: str
    ) -> Interaction:
        """Back to the queue from an agent (transfer to the queue, the agent's phone or
        browser gone); it keeps its original place."""
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            locked = await self._lock(conn, interaction_id)
            state = transition(locked["state"], "requeue")
            events.extend(await withdraw_offers(conn, locked["id"], "requeued", now))
            row = await repository.update_interaction(
                conn,
                locked["id"],
                now,
                state=state,
                agent_id=None,
                offer_id=None,
                accepted_at=None,
                wrapup_until=None,
                requeues=locked["requeues"] + 1,
            )
            events.append(InteractionRequeued(locked["id"], locked["agent_id"], reason, now))
        return interaction_from_row(row)

    async def change_channel(
        self,
        conn: asyncpg.Connection,
        interaction_id: int,
        channel: Channel,
        external_refs: Mapping[str, str] | None = None,
    ) -> Interaction:
        """A waiting (or ringing) interaction continues on another channel — a caller who
        asks to be called back — and keeps its place: same enqueue time, ranked as that
        channel of that age. Open offers are withdrawn; ``external_refs`` are added."""
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            locked = await self._lock(conn, interaction_id)
            transition(locked["state"], "change_channel")
            department = await self._directory.get(conn, locked["department_id"])
            settings = department.settings
            events.extend(await withdraw_offers(conn, locked["id"], "channel changed", now))
            refs = {
                **repository.mapping_from_json(locked["external_refs"]),
                **(external_refs or {}),
            }
            row = await repository.update_interaction(
                conn,
                locked["id"],
                now,
                channel=channel,
                state="queued" if locked["state"] == "offered" else locked["state"],
                agent_id=None,
                offer_id=None,
                rank_at=rank_time(
                    locked["enqueued_at"],
                    channel,
                    locked["priority"],
                    settings.channel_priority,
                    settings.priority_step_s,
                ),
                settings_version=department.version,
                external_refs=repository.json_mapping(refs),
            )
            events.append(InteractionChannelChanged(locked["id"], locked["channel"], channel, now))
        return interaction_from_row(row)

    async def expire_due(self, conn: asyncpg.Connection, interaction_id: int) -> Interaction | None:
        """End the wait of an interaction past its department's max wait now — also while
        it is being offered — instead of at the next sweep. None when it is not due (or
        not waiting or offered any more)."""
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            locked = await self._lock(conn, interaction_id)
            deadline = locked["wait_deadline"]
            if locked["state"] not in _EXPIRABLE or deadline is None or deadline > now:
                return None
            departments = await self._directory.all(conn)
            events.extend(await end_wait(conn, locked, departments, now))
        return await self.get_interaction(conn, interaction_id)

    async def open_offers(self, conn: asyncpg.Connection, agent_id: int) -> list[Offer]:
        rows = await repository.offers_of_agent(conn, agent_id, ["offered"])
        return [offer_from_row(r) for r in rows]

    async def held_offers(self, conn: asyncpg.Connection, agent_id: int) -> list[Offer]:
        """Offers the agent has accepted and still holds (in conversation or wrap-up)."""
        rows = await repository.offers_of_agent(conn, agent_id, ["accepted"])
        return [offer_from_row(r) for r in rows]

    # --- agents ----------------------------------------------------------------------

    async def agent_state(self, conn: asyncpg.Connection, agent_id: int) -> AgentState:
        row = await repository.agent_state(conn, agent_id)
        if row is None:
            raise AgentNotFound(agent_id)
        return agent_state_from_row(row)

    async def set_agent_status(
        self,
        conn: asyncpg.Connection,
        agent_id: int,
        status: AgentStatus,
        reason: str | None = None,
    ) -> AgentState:
        """Change an agent's status. Paused needs a reason. An agent who stops being
        available loses the offers still ringing; what they already accepted stays theirs."""
        if status not in AGENT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(AGENT_STATUSES)}")
        if (status == "paused") != (reason is not None):
            raise ValueError("a reason is given with paused, and only with paused")
        now = self._clock()
        async with self.outbox.unit(conn) as events:
            ringing: list[asyncpg.Record] = []
            if status != "available":
                ids = await repository.agent_open_offer_interactions(conn, agent_id)
                ringing = await repository.lock_interactions(conn, ids)
            locked = await repository.lock_agents(conn, [agent_id])
            if not locked:
                raise AgentNotFound(agent_id)
            for interaction in ringing:
                mine = [
                    o["id"]
                    for o in await repository.open_offers_of_interaction(conn, interaction["id"])
                    if o["agent_id"] == agent_id and o["state"] == "offered"
                ]
                ended = await repository.end_offers(conn, mine, "offered", "cancelled", now)
                if ended:
                    await after_offers_ended(conn, interaction, "cancel_offer", [], now)
                events.extend(
                    OfferCancelled(e["id"], e["interaction_id"], agent_id, f"agent {status}", now)
                    for e in ended
                )
            row = await repository.set_agent_status(conn, agent_id, status, reason, now)
            if locked[0]["status"] != status or locked[0]["pause_reason"] != reason:
                events.append(AgentStatusChanged(agent_id, status, reason, now))
        return agent_state_from_row(row)

    # --- calls made together (routing.combining) ---------------------------------------

    async def _enqueue_together(
        self, conn: asyncpg.Connection, items: Sequence[Mapping[str, Any]]
    ) -> list[asyncpg.Record]:
        return await repository.insert_interactions(conn, items)

    async def _accept_together(
        self, conn: asyncpg.Connection, items: Sequence[tuple[int, int]]
    ) -> list[asyncpg.Record | None]:
        """Each offer once (a second call for one goes alone, and learns it is taken)."""
        first = _first_of_each(offer_id for offer_id, _ in items)
        unique = [items[n] for n in first.values()]
        rows = await repository.accept_queue_offers(
            conn, [o for o, _ in unique], [a for _, a in unique], self._clock()
        )
        by_offer = {r["offer_id"]: r for r in rows}
        return [by_offer.get(o) if first[o] == n else None for n, (o, _) in enumerate(items)]

    async def _complete_together(
        self, conn: asyncpg.Connection, items: Sequence[tuple[int, int | None]]
    ) -> list[asyncpg.Record | None]:
        """Each interaction once (a second call for one goes alone)."""
        first = _first_of_each(interaction_id for interaction_id, _ in items)
        unique = [items[n] for n in first.values()]
        rows = await repository.complete_accepted(
            conn,
            [i for i, _ in unique],
            [a for _, a in unique],
            self._clock(),
            self._timers.wrapup_s,
        )
        by_id = {r["id"]: r for r in rows}
        return [by_id.get(i) if first[i] == n else None for n, (i, _) in enumerate(items)]

    # --- helpers ---------------------------------------------------------------------

    async def _own_offer(
        self, conn: asyncpg.Connection, offer_id: int, agent_id: int
    ) -> asyncpg.Record:
        offer = await repository.get_offer(conn, offer_id)
        if offer is None:
            raise OfferNotFound(offer_id)
        if offer["agent_id"] != agent_id:
            raise NotYours(f"offer {offer_id} was made to another agent")
        return offer

    async def _lock(self, conn: asyncpg.Connection, interaction_id: int) -> asyncpg.Record:
        row = await repository.lock_interaction(conn, interaction_id)
        if row is None:
            raise InteractionNotFound(interaction_id)
        return row


def _accepted(offer_id: int, agent_id: int, interaction: Interaction) -> OfferAccepted:
    assert interaction.accepted_at is not None
    return OfferAccepted(
        offer_id=offer_id,
        interaction_id=interaction.id,
        agent_id=agent_id,
        channel=interaction.channel,
        customer_id=interaction.customer_id,
        at=interaction.accepted_at,
    )


def _first_of_each(keys: Iterable[int]) -> dict[int, int]:
    """Each key with the position it first appears at."""
    first: dict[int, int] = {}
    for n, key in enumerate(keys):
        first.setdefault(key, n)
    return first


async def end_wait(
    conn: asyncpg.Connection,
    interaction: asyncpg.Record,
    departments: Mapping[int, Department],
    now: datetime,
) -> list[object]:
    """A locked interaction, waiting or offered, that reached its department's max wait:
    it overflows into the department its settings name (keeping its enqueue time), or
    ends as expired with the overflow target its owner carries out."""
    settings = departments[interaction["department_id"]].settings
    target = departments.get(settings.overflow_department() or 0)
    events = await withdraw_offers(conn, interaction["id"], MAX_WAIT_REASON, now)
    if target is not None and target.id != interaction["department_id"]:
        transition(interaction["state"], "overflow")
        max_wait = target.settings.max_wait_s
        await repository.update_interaction(
            conn,
            interaction["id"],
            now,
            state="queued",
            agent_id=None,
            offer_id=None,
            department_id=target.id,
            rank_at=rank_time(
                interaction["enqueued_at"],
                interaction["channel"],
                interaction["priority"],
                target.settings.channel_priority,
                target.settings.priority_step_s,
            ),
            settings_version=target.version,
            wait_deadline=now + timedelta(seconds=max_wait) if max_wait else None,
        )
        events.append(
            InteractionOverflowed(interaction["id"], interaction["department_id"], target.id, now)
        )
        return events
    state = transition(interaction["state"], "expire")
    await repository.update_interaction(
        conn,
        interaction["id"],
        now,
        state=state,
        agent_id=None,
        offer_id=None,
        ended_at=now,
        end_reason=MAX_WAIT_REASON,
        overflow_target=settings.overflow_target,
    )
    events.append(
        InteractionExpired(
            interaction["id"],
            interaction["channel"],
            interaction["customer_id"],
            settings.overflow_target,
            now,
        )
    )
    return events


async def withdraw_offers(
    conn: asyncpg.Connection, interaction_id: int, reason: str, now: datetime
) -> list[object]:
    """End every offer of a locked interaction (open: cancelled; accepted: released)."""
    offers = await repository.open_offers_of_interaction(conn, interaction_id)
    if not offers:
        return []
    await repository.lock_agents(conn, [o["agent_id"] for o in offers])
    ringing = [o["id"] for o in offers if o["state"] == "offered"]
    cancelled = await repository.end_offers(conn, ringing, "offered", "cancelled", now)
    await repository.end_offers(
        conn, [o["id"] for o in offers if o["state"] == "accepted"], "accepted", "released", now
    )
    return [
        OfferCancelled(o["id"], o["interaction_id"], o["agent_id"], reason, now) for o in cancelled
    ]


async def after_offers_ended(
    conn: asyncpg.Connection,
    interaction: asyncpg.Record,
    action: Action,
    declined_by: Sequence[int],
    now: datetime,
) -> asyncpg.Record:
    """A locked, offered interaction lost some offers: back to the queue if none is
    left open (a ring group may still be ringing elsewhere)."""
    still_open = await repository.open_offers_of_interaction(conn, interaction["id"])
    target = "offered" if still_open else "queued"
    state = transition(interaction["state"], action, target)  # type: ignore[arg-type]
    declined = sorted({*interaction["declined_by"], *declined_by})
    if state == "offered":
        return await repository.update_interaction(
            conn, interaction["id"], now, declined_by=declined
        )
    return await repository.update_interaction(
        conn,
        interaction["id"],
        now,
        state=state,
        agent_id=None,
        offer_id=None,
        declined_by=declined,
    )
