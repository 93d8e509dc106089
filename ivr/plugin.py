"""Wiring of the IVR into the app: AGI scripts, bus consumers, admin API.

``setup(app)`` runs after the app's own resources and after the routing and customer
plugins are declared, so its cleanup context starts once the pool, the bus, the AMI
client, the AGI server, routing and the customer store exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from crm_connectors.keys import CUSTOMERS
from routing.keys import ROUTING
from server.config import Config
from server.keys import AGI, AMI, BUS, CLOCK, CONFIG, POOL

from . import http
from .calls import CallRegistry
from .config import IvrConfig
from .connect import VoiceConnector
from .flow import IvrFlow
from .keys import IVR, Ivr
from .notify import VoicemailMailer
from .queue import VoiceQueue
from .services import CallLog, MenuService, PromptService, VoicemailService
from .sounds import AsteriskSounds
from .stats import IvrStats
from .timeline import IvrTimeline


def _announces_recording(config: Config) -> Callable[[int], bool]:
    """Whether an inbound caller of a department hears the recording notice first."""

    def announces(department_id: int) -> bool:
        policy = config.recording.should_record("inbound", department_id)
        return policy.record and policy.announce

    return announces


def ivr_config(app: web.Application) -> IvrConfig:
    # Config.ivr is added by the server's configuration; the defaults serve until then.
    return app[CONFIG].ivr


async def _ivr(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = ivr_config(app)
    pool, bus, clock = app[POOL], app[BUS], app[CLOCK].now
    data_dir = Path(config.server.data_dir)
    routing = app[ROUTING]
    customers = app[CUSTOMERS].store
    queue = VoiceQueue(pool, routing.service, routing.overview, customers)

    prompts = PromptService(pool, settings.spool_path(data_dir) / "prompts")
    await prompts.load()
    menus = MenuService(pool, prompts, AsteriskSounds(app[AMI]).exists)
    voicemail = VoicemailService(
        pool,
        settings.spool_path(data_dir) / "voicemail",
        settings.voicemail_path(data_dir),
        bus.publish,
    )
    voicemail.prepare()
    calls = CallRegistry()
    call_log = CallLog(pool, bus.publish)
    stats = IvrStats()
    app[IVR] = Ivr(menus, prompts, voicemail, calls, stats, settings)

    flow = IvrFlow(
        menus=menus,
        prompts=prompts,
        queue=queue,
        calls=calls,
        call_log=call_log,
        voicemail=voicemail,
        config=settings,
        timers=config.timers,
        clock=clock,
        stats=stats,
        announce_recording=_announces_recording(config),
    )
    agi = app[AGI]
    agi.route("ivr", flow.on_call)
    agi.route("ivr-resume", flow.on_resume)
    agi.route("ivr-answered", flow.on_answered)
    VoiceConnector(
        calls=calls,
        queue=queue,
        ami=app[AMI],
        call_log=call_log,
        config=settings,
        timers=config.timers,
        clock=clock,
    ).subscribe(bus.subscribe)
    IvrTimeline(pool, customers).subscribe(bus.subscribe)
    VoicemailMailer(pool, settings.smtp, clock).subscribe(bus.subscribe)
    yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_ivr)
    http.setup_routes(app)
