"""The application factory, used by ``switchboard serve``/``up`` and by the tests alike."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from callback import plugin as callback_plugin
from crm_connectors import plugin as crm_plugin
from ivr import plugin as ivr_plugin
from pbx import plugin as pbx_plugin
from recording import plugin as recording_plugin
from routing import plugin as routing_plugin
from server import health, pages, phones_http
from server.auth import http as auth_http
from server.auth.middleware import AUTH_SERVICE, auth_middleware
from server.auth.services import AuthService, UserService
from server.bus import EventBus
from server.clock import Clock, SystemClock
from server.config import Config
from server.db import create_pool
from server.keys import AGI, AMI, BUS, CLOCK, CONFIG, METRICS, PHONES, POOL
from server.metrics import Metrics
from server.phones import PhoneDirectory
from text_channels import plugin as text_channels_plugin
from workspace import plugin as workspace_plugin

log = logging.getLogger(__name__)

# Feature packages, each with a ``plugin.setup(app)`` that adds its routes and resources.
# They run after the server's own resources (pool, bus, AMI) are declared.
FEATURE_PLUGINS: tuple[Callable[[web.Application], None], ...] = (
    pbx_plugin.setup,
    recording_plugin.setup,
    routing_plugin.setup,
    crm_plugin.setup,
    ivr_plugin.setup,
    callback_plugin.setup,
    text_channels_plugin.setup,
    workspace_plugin.setup,
)


def secret_key(config: Config) -> bytes:
    """The configured secret, else one generated once and kept in the data directory."""
    configured = config.server.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    path = Path(config.server.data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    metrics = request.app[METRICS]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.http_requests.labels(request.method, str(exc.status)).inc()
        if exc.status >= 400 and exc.content_type != "application/json":
            raise _as_json(exc) from None
        raise
    except Exception:
        metrics.http_requests.labels(request.method, "500").inc()
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return web.json_response({"error": "internal server error"}, status=500)
    metrics.http_requests.labels(request.method, str(response.status)).inc()
    return response


def _as_json(exc: web.HTTPException) -> web.HTTPException:
    """aiohttp's own errors (404, 405, 413 ...) as JSON like ours."""
    exc.text = json.dumps({"error": exc.reason.lower()})
    exc.content_type = "application/json"
    return exc


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    dsn = config.database.url.get_secret_value()
    if not dsn:
        raise RuntimeError("database.url is empty: `switchboard up` or DATABASE_URL provides it")
    app[POOL] = await create_pool(dsn, config.database.pool_min, config.database.pool_max)
    app[AUTH_SERVICE] = AuthService(app[POOL], config.auth, secret_key(config), app[CLOCK])
    app[auth_http.USER_SERVICE] = UserService(app[POOL])
    yield
    await app[POOL].close()


async def _event_bus(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[BUS].close()


async def _pbx(app: web.Application) -> AsyncIterator[None]:
    from asterisk_conf.render import ACCOUNTS_RELOAD_ACTIONS
    from pbx.ami.client import AmiClient

    config = app[CONFIG]
    ami = AmiClient(config.ami)
    app[AMI] = ami

    async def reload_accounts() -> None:
        for action in ACCOUNTS_RELOAD_ACTIONS:
            fields = {k: v for k, v in action.items() if k != "Action"}
            await ami.send_action(action["Action"], fields)

    app[PHONES] = PhoneDirectory(app[POOL], config.asterisk.etc_dir, reload_accounts)
    await ami.start()
    await app[PHONES].sync()
    yield
    await ami.close()


async def _agi(app: web.Application) -> AsyncIterator[None]:
    from pbx.agi.server import AgiServer

    config = app[CONFIG]
    agi = AgiServer(config.agi.host, config.agi.port)
    app[AGI] = agi
    await agi.start()
    yield
    await agi.close()


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, auth_middleware], client_max_size=2**20)
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[BUS] = EventBus()
    app[METRICS] = Metrics()
    app.cleanup_ctx.extend([_database, _event_bus, _pbx, _agi])
    health.setup_routes(app)
    auth_http.setup_routes(app)
    phones_http.setup_routes(app)
    pages.setup_routes(app)
    for setup in FEATURE_PLUGINS:
        setup(app)
    return app
