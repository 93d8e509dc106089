"""One assignment batch: waiting interactions turned into offers.

Safety comes from row locks, checked by the statement that writes the offers
(repository.assign): an interaction is taken with ``FOR NO KEY UPDATE SKIP LOCKED`` and
only while still waiting and unchanged; an agent is locked, in ``user_id`` order, and
charged only while available and with room. Nothing else is trusted, so two batches
running side by side could never offer one interaction twice or overfill an agent.

Batches of all processes also take turns on one advisory lock. That is not for safety
but for the queue order and for efficiency: a batch sees every commit that happened
before it started, so two routers do not pick the same best agents for different
interactions (one of them would lose the row and retry), a higher-ranked interaction is
not overtaken by a lower one routed in parallel elsewhere, and no wake-up is lost — an
event committed before a batch starts is seen by it, one committed later wakes another
batch.

A batch is two round trips: ``routing_batch_start`` (migration 0023) takes the lock and
reads the head of the queue and the free agents (after the lock, so up to date), and the
statement that writes the offers commits and releases the lock. (The lock is released
inside that statement, a moment before its commit: a batch starting in that moment may
not see these offers yet and lose a race for a row, which costs it a retry, never a
double offer.) A router may also ask not to wait for the lock (routing.router).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from server.config import TimersConfig

from . import repository
from .config import RoutingConfig
from .directory import AgentProfiles, DepartmentDirectory
from .events import OfferAccepted, OfferMade
from .matching import Assignment, Matcher, WaitingInteraction, reachable
from .settings import DepartmentSettings

# An arbitrary constant: the advisory lock assignment batches take turns on.
ROUTER_LOCK = 7_264_113_021


@dataclass(frozen=True, slots=True)
class BatchResult:
    events: list[object] = field(default_factory=list)
    offers: int = 0
    # Run another batch at once: the batch was full, or some of its offers lost a race.
    again: bool = False
    # Not run: another router was in a batch (and runs one more after it).
    skipped: bool = False


def _waiting(row: asyncpg.Record) -> WaitingInteraction:
    skills = row["skills"]
    return WaitingInteraction(
        interaction_id=row["id"],
        department_id=row["department_id"],
        channel=row["channel"],
        rank_at=row["rank_at"],
        skills={} if skills == "{}" else json.loads(skills),
        preferred_agent_id=row["preferred_agent_id"],
        sticky_until=row["sticky_until"],
        declined_by=frozenset(row["declined_by"]),
        version=row["version"],
    )


class Assigner:
    def __init__(
        self,
        directory: DepartmentDirectory,
        config: RoutingConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
    ) -> None:
        self._directory = directory
        self._profiles = AgentProfiles()
        self._config = config
        self._timers = timers
        self._clock = clock
        self._rng = rng or random.Random()
        # The waiting interactions read by the last batch, by id: most are read again by
        # the next one, unchanged (same version), and need not be rebuilt.
        self._known: dict[int, WaitingInteraction] = {}

    async def run(self, conn: asyncpg.Connection, *, wait: bool = True) -> BatchResult:
        """One batch; the caller publishes the events. On any failure the connection is
        terminated, which also releases the routers' lock with the session. Without
        ``wait``, no batch while another router is in one (an empty result)."""
        now = self._clock()
        try:
            started = await repository.start_batch(
                conn, ROUTER_LOCK, self._config.page_size, now, wait=wait
            )
            if started is None:
                return BatchResult(skipped=True)
            page, rows = started
            if not page or not rows:
                return BatchResult()
            return await self._assign(conn, now, page, rows)
        except BaseException:
            if not conn.is_closed():
                conn.terminate()
            raise

    async def _assign(
        self,
        conn: asyncpg.Connection,
        now: datetime,
        page: list[asyncpg.Record],
        rows: list[asyncpg.Record],
    ) -> BatchResult:
        departments = await self._directory.all(conn)
        settings = {d.id: d.settings for d in departments.values()}
        agents = await self._profiles.free_agents(conn, rows)
        department_ids, channels = reachable(agents, settings)
        matcher = Matcher(agents, settings, now, self._rng)
        assignments: list[Assignment] = []
        waiting_by_id: dict[int, WaitingInteraction] = {}
        known = self._known
        scanned = 0
        while department_ids:
            waiting = []
            for r in page:
                if r["department_id"] in department_ids and r["channel"] in channels:
                    item = known.get(r["id"])
                    if item is None or item.version != r["version"]:
                        item = _waiting(r)
                    waiting.append(item)
                    waiting_by_id[item.interaction_id] = item
            assignments += matcher.match(waiting)
            scanned += len(page)
            if (
                len(page) < self._config.page_size
                or len(assignments) >= self._config.batch_size
                or scanned >= self._config.scan_limit
            ):
                break
            # Further back, only what some agent with the room left could take.
            department_ids, channels = matcher.reachable()
            if not department_ids:
                break
            page = await repository.waiting_page(
                conn,
                sorted(department_ids),
                sorted(channels),
                (page[-1]["rank_at"], page[-1]["id"]),
                self._config.page_size,
                now,
            )
        self._known = waiting_by_id
        if not assignments:
            await repository.release_router_lock(conn, ROUTER_LOCK)
            return BatchResult()
        events = await self._write(conn, assignments, waiting_by_id, settings, now)
        offers = sum(isinstance(e, OfferMade) for e in events)
        return BatchResult(
            events=events,
            offers=offers,
            again=len(assignments) >= self._config.batch_size or offers < len(assignments),
        )

    async def _write(
        self,
        conn: asyncpg.Connection,
        assignments: list[Assignment],
        waiting: Mapping[int, WaitingInteraction],
        settings: Mapping[int, DepartmentSettings],
        now: datetime,
    ) -> list[object]:
        expires_at = []
        automatic = []
        for a in assignments:
            item = waiting[a.interaction_id]
            department = settings[item.department_id]
            timeout = department.offer_timeout(item.channel, self._timers.offer_timeout_s)
            expires_at.append(now + timedelta(seconds=timeout))
            automatic.append(item.channel in department.auto_accept)
        rows = await repository.assign(
            conn,
            [a.interaction_id for a in assignments],
            [a.agent_id for a in assignments],
            [a.cost for a in assignments],
            [a.version for a in assignments],
            [a.mode for a in assignments],
            expires_at,
            automatic,
            now,
            ROUTER_LOCK,
        )
        events: list[object] = []
        for r in rows:
            refs = tuple(sorted(repository.mapping_from_json(r["external_refs"]).items()))
            events.append(
                OfferMade(
                    offer_id=r["id"],
                    interaction_id=r["interaction_id"],
                    agent_id=r["agent_id"],
                    channel=r["channel"],
                    customer_id=r["customer_id"],
                    department_id=r["department_id"],
                    mode=r["mode"],
                    expires_at=r["expires_at"],
                    at=now,
                    external_refs=refs,
                )
            )
            if r["state"] == "accepted":
                events.append(
                    OfferAccepted(
                        offer_id=r["id"],
                        interaction_id=r["interaction_id"],
                        agent_id=r["agent_id"],
                        channel=r["channel"],
                        customer_id=r["customer_id"],
                        at=now,
                        automatic=True,
                    )
                )
        return events
