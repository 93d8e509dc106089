"""Wiring of the web callback: the service, the executor (routing's offers, AMI results,
the FastAGI script ``callback-answered``), the timeline and the public API.

``setup(app)`` runs after routing and the customer store are declared, so its cleanup
context starts once the pool, the bus, AMI, the AGI server, routing and the customer
store exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from crm_connectors.keys import CUSTOMERS
from routing.keys import ROUTING
from server.keys import AGI, AMI, BUS, CLOCK, CONFIG, POOL

from . import http
from .executor import CallbackExecutor
from .keys import CALLBACKS, Callbacks
from .services import CallbackService
from .timeline import CallbackTimeline


async def _callbacks(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = config.callback
    pool, bus, clock = app[POOL], app[BUS], app[CLOCK].now
    routing = app[ROUTING]
    customers = app[CUSTOMERS].store
    service = CallbackService(
        pool,
        routing.service,
        routing.overview,
        customers,
        settings,
        config.timers,
        clock,
        bus.publish,
    )
    executor = CallbackExecutor(service, app[AMI], settings, config.timers, clock)
    unsubscribe = [
        *executor.subscribe(bus.subscribe),
        *CallbackTimeline(pool, customers).subscribe(bus.subscribe),
    ]
    app[AGI].route("callback-answered", executor.on_answered)
    app[CALLBACKS] = Callbacks(service, executor, settings)
    executor.start()
    yield
    await executor.close()
    for stop in unsubscribe:
        if callable(stop):
            stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_callbacks)
    http.setup_routes(app)
