"""The IVR's side of the unified queue and the customer store: what a voice call needs
from ``routing`` and ``crm_connectors``, in the IVR's words.

Everything goes through their public services.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from crm_connectors import repository as customers_repository
from crm_connectors.identities import InvalidIdentity
from crm_connectors.store import CustomerStore
from routing import repository as routing_repository
from routing.errors import RoutingError
from routing.models import Interaction, NewInteraction, QueuePosition
from routing.overview import QueueOverview
from routing.services import RoutingService

from . import repository


@dataclass(frozen=True, slots=True)
class RingTarget:
    offer_id: int
    agent_id: int
    endpoint: str
    expires_at: datetime


class VoiceQueue:
    def __init__(
        self,
        pool: asyncpg.Pool,
        routing: RoutingService,
        overview: QueueOverview,
        customers: CustomerStore,
    ) -> None:
        self._pool = pool
        self._routing = routing
        self._overview = overview
        self._customers = customers

    async def customer_for(self, number: str | None, name: str | None) -> int:
        """The caller as a customer; a caller without a usable number is a new,
        anonymous customer (one call cannot be told from another's)."""
        async with self._pool.acquire() as conn:
            if number:
                try:
                    customer = await self._customers.resolve_customer(conn, "phone", number, name)
                    return customer.id
                except InvalidIdentity:
                    pass
            return await customers_repository.insert_customer(conn, (name or "")[:200])

    async def enqueue_voice(
        self,
        customer_id: int,
        department_id: int,
        call_id: str,
        *,
        skills: dict[str, int] | None = None,
        priority: int = 0,
    ) -> Interaction:
        new = NewInteraction(
            channel="voice",
            customer_id=customer_id,
            department_id=department_id,
            skills=skills or {},
            priority=priority,
            external_refs={"call_id": call_id},
        )
        async with self._pool.acquire() as conn:
            # Nothing is awaited after the commit: the caller is registered as waiting
            # before the router's offer (handled by another task) can look for it.
            return await self._routing.enqueue(conn, new)

    async def enqueue_callback(
        self, customer_id: int, department_id: int, call_id: str, phone: str
    ) -> Interaction:
        new = NewInteraction(
            channel="callback",
            customer_id=customer_id,
            department_id=department_id,
            external_refs={"call_id": call_id, "phone": phone},
        )
        async with self._pool.acquire() as conn:
            return await self._routing.enqueue(conn, new)

    async def position(self, interaction_id: int) -> QueuePosition:
        async with self._pool.acquire() as conn:
            return await self._overview.position_and_wait(conn, interaction_id)

    async def to_callback(self, interaction_id: int, phone: str) -> Interaction:
        """The waiting call becomes a callback to ``phone`` that keeps its place: same
        interaction, same enqueue time, ranked as a callback of that age."""
        async with self._pool.acquire() as conn:
            return await self._routing.change_channel(
                conn, interaction_id, "callback", {"phone": phone}
            )

    async def expire_due(self, interaction_id: int) -> bool:
        """End a wait past the department's max wait now, while it is being offered too
        (a late offer is not worth ringing); True when this did it."""
        async with self._pool.acquire() as conn:
            return await self._routing.expire_due(conn, interaction_id) is not None

    async def ring_targets(self, interaction_id: int) -> tuple[list[RingTarget], datetime | None]:
        """The open offers of an interaction, with the phones to ring, and when its wait
        in the queue ends (the department's max wait)."""
        async with self._pool.acquire() as conn:
            offers = await routing_repository.open_offers_of_interaction(conn, interaction_id)
            offered = [o for o in offers if o["state"] == "offered"]
            endpoints = await repository.endpoints_of(conn, [o["agent_id"] for o in offered])
            interaction = await routing_repository.get_interaction(conn, interaction_id)
        targets = [
            RingTarget(o["id"], o["agent_id"], endpoints[o["agent_id"]], o["expires_at"])
            for o in offered
            if o["agent_id"] in endpoints
        ]
        return targets, interaction["wait_deadline"] if interaction is not None else None

    async def agent_of_endpoint(self, endpoint: str) -> int | None:
        async with self._pool.acquire() as conn:
            return await repository.agent_of_endpoint(conn, endpoint)

    async def accept(self, offer_id: int, agent_id: int) -> Interaction:
        async with self._pool.acquire() as conn:
            return await self._routing.accept(conn, offer_id, agent_id)

    async def decline(self, offers: Sequence[tuple[int, int]]) -> None:
        """Give back offers the phones did not take; ones already closed are skipped."""
        async with self._pool.acquire() as conn:
            for offer_id, agent_id in offers:
                try:
                    await self._routing.decline(conn, offer_id, agent_id)
                except RoutingError:
                    continue

    async def complete(self, interaction_id: int, agent_id: int | None) -> None:
        async with self._pool.acquire() as conn:
            await self._routing.complete(conn, interaction_id, agent_id)

    async def abandon(self, interaction_id: int) -> Interaction | None:
        """None when the interaction had moved on already (e.g. became a callback)."""
        async with self._pool.acquire() as conn:
            try:
                return await self._routing.abandon(conn, interaction_id, "caller hung up")
            except RoutingError:
                return None
