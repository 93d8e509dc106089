"""Periodic work of the queue, run by every router: what happens because time passed.

Offers past their time are timed out (the interaction goes to the next agent, the agent
counts a missed offer and is paused after too many in a row), wrap-ups past their time
are completed, interactions past their department's max wait overflow or expire, and
interactions ranked under old department settings are re-ranked. Run at start, this is
also the recovery after a crash: whatever a dead process left open times out here.

Every sweep takes its rows with SKIP LOCKED and re-checks their state, so the sweeps of
several processes share the work and never do a piece twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime

import asyncpg

from server.config import TimersConfig

from . import repository
from .config import RoutingConfig
from .directory import DepartmentDirectory
from .events import AgentStatusChanged, InteractionCompleted, OfferTimedOut
from .models import MISSED_OFFERS_REASON
from .outbox import EventOutbox
from .ranking import rerank_waiting
from .services import after_offers_ended, end_wait


class Sweeper:
    def __init__(
        self,
        outbox: EventOutbox,
        directory: DepartmentDirectory,
        config: RoutingConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._config = config
        self._timers = timers
        self._clock = clock

    async def sweep(self, conn: asyncpg.Connection) -> int:
        """Everything due now; returns how many interactions changed."""
        self._directory.invalidate()
        changed = 0
        for step in (self.expire_offers, self.finish_wrapups, self.expire_waits, self.rerank):
            while True:
                done = await step(conn)
                changed += done
                if done < self._config.sweep_batch:
                    break
        return changed

    async def expire_offers(self, conn: asyncpg.Connection) -> int:
        now = self._clock()
        async with self._outbox.unit(conn) as events:
            interactions = await repository.interactions_to_expire_offers(
                conn, now, self._config.sweep_batch
            )
            if not interactions:
                return 0
            offers = await repository.expired_offers(conn, [i["id"] for i in interactions], now)
            agents = await repository.lock_agents(conn, [o["agent_id"] for o in offers])
            ended = await repository.end_offers(
                conn, [o["id"] for o in offers], "offered", "timed_out", now
            )
            events.extend(
                OfferTimedOut(e["id"], e["interaction_id"], e["agent_id"], now) for e in ended
            )
            events.extend(await self._count_misses(conn, agents, ended, now))
            missed_by: dict[int, list[int]] = defaultdict(list)
            for e in ended:
                missed_by[e["interaction_id"]].append(e["agent_id"])
            for interaction in interactions:
                if interaction["id"] in missed_by:
                    await after_offers_ended(
                        conn, interaction, "time_out", missed_by[interaction["id"]], now
                    )
        return len(interactions)

    async def _count_misses(
        self,
        conn: asyncpg.Connection,
        agents: list[asyncpg.Record],
        ended: list[asyncpg.Record],
        now: datetime,
    ) -> list[object]:
        """One missed offer per timed-out queue offer; a ring group ringing out is no miss."""
        misses = Counter(e["agent_id"] for e in ended if e["mode"] == "queue")
        if not misses:
            return []
        before = {a["user_id"]: a for a in agents}
        ids = sorted(misses)
        totals = [before[a]["missed_offers"] + misses[a] for a in ids]
        await repository.set_missed_offers(conn, ids, totals)
        events: list[object] = []
        for agent_id, total in zip(ids, totals, strict=True):
            if (
                before[agent_id]["status"] == "available"
                and total >= self._config.missed_offers_limit
            ):
                await repository.set_agent_status(
                    conn, agent_id, "paused", MISSED_OFFERS_REASON, now
                )
                events.append(AgentStatusChanged(agent_id, "paused", MISSED_OFFERS_REASON, now))
        return events

    async def finish_wrapups(self, conn: asyncpg.Connection) -> int:
        now = self._clock()
        ids = await repository.interactions_past_wrapup(conn, now, self._config.sweep_batch)
        for interaction_id in ids:
            async with self._outbox.unit(conn, single_statement=True) as events:
                row = await repository.finish(conn, interaction_id, "wrap_up", None, now, 0.0)
                if row is not None:
                    events.append(
                        InteractionCompleted(
                            interaction_id=row["id"],
                            channel=row["channel"],
                            customer_id=row["customer_id"],
                            agent_id=row["agent_id"],
                            at=now,
                        )
                    )
        return len(ids)

    async def expire_waits(self, conn: asyncpg.Connection) -> int:
        now = self._clock()
        async with self._outbox.unit(conn) as events:
            rows = await repository.interactions_past_deadline(conn, now, self._config.sweep_batch)
            departments = await self._directory.all(conn)
            for row in rows:
                events.extend(await end_wait(conn, row, departments, now))
        return len(rows)

    async def rerank(self, conn: asyncpg.Connection) -> int:
        """Waiting interactions ranked under settings that have changed since."""
        async with self._outbox.unit(conn):
            rows = await repository.waiting_to_rerank(conn, limit=self._config.sweep_batch)
            if rows:
                # Fresh settings, or the rows would be stamped with a version they lack.
                self._directory.invalidate()
                await rerank_waiting(conn, rows, await self._directory.all(conn))
        return len(rows)
