"""Wiring of the customer store into the app: who sees what, its service, the timeline
writer, the API. Needs routing's plugin first (its key: access reads its departments)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from routing.keys import ROUTING
from server.keys import BUS, CLOCK, CONFIG, POOL

from . import http
from .access import Access
from .keys import ACCESS, CUSTOMERS
from .services import CustomerService
from .store import CustomerStore
from .timeline import TimelineWriter


async def _customers(app: web.Application) -> AsyncIterator[None]:
    clock = app[CLOCK].now
    store = CustomerStore(clock, app[CONFIG].customers.default_country_code)
    app[ACCESS] = Access(app[ROUTING].admin)
    app[CUSTOMERS] = CustomerService(app[POOL], store, app[ACCESS], app[BUS].publish, clock)
    unsubscribe = TimelineWriter(app[POOL], store).subscribe(app[BUS].subscribe)
    yield
    for stop in unsubscribe:
        stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_customers)
    http.setup_routes(app)
