"""A server process for the multi-process tests: a router and simulated agents.

Run in a child process (multiprocessing, spawn). The agents whose id is ``index``
modulo ``count`` are "connected" here: they receive their offers as relayed OfferMade
events and answer as told — accept (then complete after a short talk), decline, or let
the offer ring out. Paused agents are put back to work, so that missed offers, status
changes and routing all race each other.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime

from routing.config import RoutingConfig
from routing.errors import RoutingError
from routing.events import OfferMade
from routing.runtime import RoutingRuntime
from server.bus import EventBus
from server.config import TimersConfig
from server.db import create_pool

TIMERS = TimersConfig(offer_timeout_s=0.3, offer_sweep_interval_s=0.1, wrapup_s=0)


async def _serve(
    dsn: str, index: int, count: int, answers: dict[str, float], seed: int, ready, stop, out
) -> None:
    pool = await create_pool(dsn, 2, 6)
    bus = EventBus()
    runtime = RoutingRuntime(
        dsn=dsn,
        pool=pool,
        bus=bus,
        config=RoutingConfig(batch_size=20, page_size=20),
        timers=TIMERS,
        clock=lambda: datetime.now(UTC),
        receive=(OfferMade,),
    )
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()

    async def answer(offer: OfferMade) -> None:
        choice = rng.choices(list(answers), list(answers.values()))[0]
        outcomes[choice] += 1
        try:
            async with pool.acquire() as conn:
                if choice == "accept":
                    await runtime.service.accept(conn, offer.offer_id, offer.agent_id)
                    await asyncio.sleep(rng.uniform(0, 0.02))
                    await runtime.service.complete(conn, offer.interaction_id, offer.agent_id)
                elif choice == "decline":
                    await runtime.service.decline(conn, offer.offer_id, offer.agent_id)
        except RoutingError as exc:
            # Lost a race (ring group taken by another, offer timed out meanwhile).
            outcomes[type(exc).__name__] += 1

    def on_offer(offer: OfferMade) -> None:
        if offer.agent_id % count == index:
            task = asyncio.get_running_loop().create_task(answer(offer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def revive() -> None:
        while True:
            await asyncio.sleep(0.2)
            async with pool.acquire() as conn:
                rows = await conn.fetch("SELECT user_id FROM agents WHERE status = 'paused'")
                for row in rows:
                    if row["user_id"] % count == index:
                        await runtime.service.set_agent_status(conn, row["user_id"], "available")
                        outcomes["revived"] += 1

    bus.subscribe(OfferMade, on_offer)
    await runtime.start()
    reviver = asyncio.create_task(revive())
    ready.set()
    await asyncio.to_thread(stop.wait)
    reviver.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.put(dict(outcomes))
    await runtime.close()
    await bus.close()
    await pool.close()


def serve(dsn, index, count, answers, seed, ready, stop, out) -> None:
    asyncio.run(_serve(dsn, index, count, answers, seed, ready, stop, out))
