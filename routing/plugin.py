"""Wiring of routing into the app: the runtime (relay, services, router) and the API.

``setup(app)`` runs after the app's own resources are declared, so its cleanup context
starts once the pool and the bus exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.keys import BUS, CLOCK, CONFIG, POOL

from . import http
from .keys import ROUTING
from .runtime import RoutingRuntime


async def _routing(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    runtime = RoutingRuntime(
        dsn=config.database.url.get_secret_value(),
        pool=app[POOL],
        bus=app[BUS],
        config=config.routing,
        timers=config.timers,
        clock=app[CLOCK].now,
    )
    app[ROUTING] = runtime
    await runtime.start()
    yield
    await runtime.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_routing)
    http.setup_routes(app)
