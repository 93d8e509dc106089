"""Wiring of text channels into the app: the conversation service, the web chat channel,
the public widget endpoints and the sites' admin API.

Needs routing's and the customer store's plugins to run first (their keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from crm_connectors.keys import CUSTOMERS
from routing.keys import ROUTING
from server.config import Config
from server.keys import BUS, CLOCK, CONFIG, POOL

from . import http
from .config import TextChannelsConfig
from .keys import TEXT_CHANNELS, TextChannels
from .limits import RateLimiter
from .relay import WebchatRelay
from .services import ConversationService
from .sites import SiteService
from .visitors import visitor_key
from .webchat import WebchatAdapter


def text_channels_config(config: Config) -> TextChannelsConfig:
    # Config.text_channels arrives with this feature's wiring into server/config.py;
    # the defaults serve until then.
    return getattr(config, "text_channels", None) or TextChannelsConfig()


async def _text_channels(app: web.Application) -> AsyncIterator[None]:
    # Imported here: server.app imports this module while it is being loaded.
    from server.app import secret_key

    config = text_channels_config(app[CONFIG])
    key = visitor_key(secret_key(app[CONFIG]))
    service = ConversationService(
        app[POOL],
        app[ROUTING].service,
        app[CUSTOMERS].store,
        app[BUS].publish,
        app[CLOCK].now,
        config,
    )
    relay = WebchatRelay(app[CONFIG].database.url.get_secret_value())
    webchat = WebchatAdapter(key, relay)
    relay.attach(webchat.deliver_stored, webchat.notify_here, service.message, webchat.holds)
    await relay.start()
    service.register(webchat)
    app[TEXT_CHANNELS] = TextChannels(
        conversations=service,
        sites=SiteService(app[POOL]),
        webchat=webchat,
        visitor_key=key,
        limiter=RateLimiter(config.rate_burst, config.rate_per_s),
        config=config,
    )
    yield
    await relay.close()


async def _close_sockets(app: web.Application) -> None:
    if TEXT_CHANNELS in app:
        await app[TEXT_CHANNELS].webchat.close_all()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_text_channels)
    app.on_shutdown.append(_close_sockets)
    http.setup_routes(app)
