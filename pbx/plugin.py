"""Wiring of pbx into the app: call tracking on the bus, the journal and its API.

``setup(app)`` runs after the app's own resources are declared, so its cleanup
context starts once the pool, the bus and the AMI client exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.keys import AMI, BUS, CLOCK, POOL

from . import http
from .journal import CallJournal
from .services import CallTrackingService

TRACKING = web.AppKey("call_tracking", CallTrackingService)


async def _calls(app: web.Application) -> AsyncIterator[None]:
    bus = app[BUS]
    journal = CallJournal(app[POOL])
    app[http.JOURNAL] = journal
    # Stays subscribed through shutdown: the bus drains after the AMI client closes,
    # and the calls it still delivers must reach the journal.
    journal.subscribe(bus.subscribe)
    tracking = CallTrackingService(app[AMI], bus.publish, clock=app[CLOCK].now)
    app[TRACKING] = tracking
    await tracking.start()
    yield
    await tracking.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_calls)
    http.setup_routes(app)
