"""Wiring of the operator workspace into the app: the stream hub and its notifier, the
screen-pop, call controls, the page's API and the admin API of canned responses and
wrap-up codes; and a call's recording on the customer's timeline.

Needs routing's, the customer store's and text channels' plugins to run first (their
keys); uses the IVR's registry of live calls when the IVR is wired in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from crm_connectors.keys import ACCESS, CUSTOMERS
from crm_connectors.timeline import TimelineWriter
from ivr.keys import IVR
from recording.events import RecordingLinked
from routing.keys import ROUTING
from server.keys import AMI, BUS, CLOCK, CONFIG, POOL
from text_channels.keys import TEXT_CHANNELS

from . import admin_http, chat_http, http
from .call_context import CallContext, IvrCallContext, NoCallContext
from .calls import CallControls
from .cards import CardBuilder
from .config import with_trunk
from .hub import StreamHub
from .keys import WORKSPACE, Workspace
from .notifier import Notifier
from .screenpop import ScreenPop
from .services import WorkspaceService
from .settings import WorkspaceSettings
from .sockets import OperatorSockets
from .wakeups import StreamWakeups


async def _workspace(app: web.Application) -> AsyncIterator[None]:
    config = with_trunk(app[CONFIG].workspace, bool(app[CONFIG].trunk.host))
    pool, bus, clock = app[POOL], app[BUS], app[CLOCK].now
    routing = app[ROUTING]
    customers = app[CUSTOMERS].store
    hub = StreamHub(pool, clock, retention=timedelta(hours=config.stream_retention_h))
    calls: CallContext = IvrCallContext(app[IVR].calls) if IVR in app else NoCallContext()
    cards = CardBuilder(routing.service, customers, calls, clock)
    service = WorkspaceService(
        pool,
        routing,
        customers,
        app[TEXT_CHANNELS].conversations,
        cards,
        app[ACCESS],
        clock,
    )
    screen_pop = ScreenPop(pool, hub, cards, clock)
    app[WORKSPACE] = Workspace(
        service=service,
        settings=WorkspaceSettings(pool),
        hub=hub,
        sockets=OperatorSockets(hub, clock),
        screen_pop=screen_pop,
        calls=CallControls(app[AMI], config),
        config=config,
    )
    await hub.start()
    wakeups = StreamWakeups(app[CONFIG].database.url.get_secret_value(), hub)
    await wakeups.start()
    await screen_pop.start()
    unsubscribe = Notifier(hub).subscribe(bus.subscribe) + screen_pop.subscribe(bus.subscribe)
    # The customer store may not import recording (a feature); composing both is ours.
    unsubscribe.append(bus.subscribe(RecordingLinked, TimelineWriter(pool, customers).on_recording))
    yield
    for stop in unsubscribe:
        stop()
    await screen_pop.close()
    await wakeups.close()
    await hub.close()


async def _close_sockets(app: web.Application) -> None:
    if WORKSPACE in app:
        await app[WORKSPACE].sockets.close_all()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_workspace)
    app.on_shutdown.append(_close_sockets)
    http.setup_routes(app)
    chat_http.setup_routes(app)
    admin_http.setup_routes(app)
