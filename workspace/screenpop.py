"""Screen-pop: when an agent's phone starts ringing for a call routing offered them, the
customer card appears on their page.

The card is built when the offer is made — the phone rings a moment later, after the
IVR's redirect and Asterisk's dial — so at the ring (the call tracker's ``CallRinging``,
from AMI ``Newstate`` Ringing) it only has to be pushed. A ring is matched to the
agent's offer of that call; a ring of a call routing does not know (a callback the
agent's phone takes first, which has a call of its own) to the agent's latest open voice
offer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from pbx.events import CallRinging
from routing.events import OfferAccepted, OfferCancelled, OfferDeclined, OfferMade, OfferTimedOut
from routing.models import VOICE_CHANNELS

from . import repository
from .cards import CardBuilder
from .hub import StreamHub
from .stream import Outgoing

log = logging.getLogger("workspace.screenpop")

Subscribe = Callable[[type, Callable[[Any], Any]], Callable[[], None]]


def endpoint_of_channel(channel: str) -> str | None:
    """``PJSIP/1001-0000002a`` → ``1001``."""
    tech, _, rest = channel.partition("/")
    if tech.upper() != "PJSIP" or not rest:
        return None
    name, dash, _suffix = rest.rpartition("-")
    return name if dash else rest


@dataclass(eq=False)
class _Pending:
    offer_id: int
    interaction_id: int
    channel: str
    call_id: str | None
    card: asyncio.Task[dict[str, Any]]
    popped: bool = False


class ScreenPop:
    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: StreamHub,
        cards: CardBuilder,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._hub = hub
        self._cards = cards
        self._clock = clock
        self._pending: dict[int, list[_Pending]] = {}
        self._endpoints: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def subscribe(self, subscribe: Subscribe) -> list[Callable[[], None]]:
        return [
            subscribe(OfferMade, self.on_offer),
            subscribe(CallRinging, self.on_ringing),
            subscribe(OfferAccepted, self.on_offer_over),
            subscribe(OfferDeclined, self.on_offer_over),
            subscribe(OfferTimedOut, self.on_offer_over),
            subscribe(OfferCancelled, self.on_offer_over),
        ]

    async def start(self) -> None:
        await self._load_endpoints()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._pending.clear()

    def on_offer(self, event: OfferMade) -> None:
        if event.channel not in VOICE_CHANNELS:
            return
        card = self._spawn(self._build(event.interaction_id))
        refs = dict(event.external_refs)
        pending = _Pending(
            event.offer_id, event.interaction_id, event.channel, refs.get("call_id"), card
        )
        self._pending.setdefault(event.agent_id, []).append(pending)

    def on_offer_over(
        self, event: OfferAccepted | OfferDeclined | OfferTimedOut | OfferCancelled
    ) -> None:
        pending = self._pending.get(event.agent_id)
        if pending is None:
            return
        keep = [p for p in pending if p.offer_id != event.offer_id]
        if keep:
            self._pending[event.agent_id] = keep
        else:
            del self._pending[event.agent_id]

    def on_ringing(self, event: CallRinging) -> None:
        endpoint = endpoint_of_channel(event.party.channel)
        if endpoint is None:
            return
        agent_id = self._endpoints.get(endpoint)
        if agent_id is None:
            # A phone added since the start: look it up, then pop.
            self._spawn(self._ring_unknown(endpoint, event))
            return
        self._ring(agent_id, event)

    def _ring(self, agent_id: int, event: CallRinging) -> None:
        pending = self._pending.get(agent_id, [])
        match = next((p for p in pending if p.call_id == event.call_id), None)
        if match is None:
            # A callback rings the agent on a call of its own.
            match = next((p for p in reversed(pending) if p.channel == "callback"), None)
        if match is None or match.popped:
            return
        match.popped = True
        if match.card.done():
            self._pop(agent_id, match, event)
        else:
            match.card.add_done_callback(lambda _t: self._pop(agent_id, match, event))

    def _pop(self, agent_id: int, pending: _Pending, event: CallRinging) -> None:
        if pending.card.cancelled() or pending.card.exception() is not None:
            log.warning("no card for the ringing phone interaction_id=%s", pending.interaction_id)
            return
        card = dict(pending.card.result())
        enqueued = card.get("enqueued_at")
        waited = (event.at - datetime.fromisoformat(enqueued)).total_seconds() if enqueued else None
        card.update(
            offer_id=pending.offer_id,
            call_id=event.call_id,
            ringing_at=event.at.isoformat(),
            waited_s=None if waited is None else round(max(0.0, waited), 1),
        )
        self._hub.push(
            Outgoing("screen_pop", card, user_id=agent_id, key=f"pop:{pending.offer_id}")
        )

    async def _build(self, interaction_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            return await self._cards.build(conn, interaction_id)

    async def _ring_unknown(self, endpoint: str, event: CallRinging) -> None:
        await self._load_endpoints()
        agent_id = self._endpoints.get(endpoint)
        if agent_id is not None:
            self._ring(agent_id, event)

    async def _load_endpoints(self) -> None:
        async with self._pool.acquire() as conn:
            self._endpoints = await repository.endpoints(conn)

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("screen-pop work failed", exc_info=task.exception())
