"""``/healthz`` (dependencies as JSON, 503 when one is down) and ``/metrics``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.auth import anonymous
from server.keys import AGI, AMI, METRICS, POOL

_DB_TIMEOUT_S = 2.0


async def _database_up(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(_DB_TIMEOUT_S):
            async with app[POOL].acquire() as conn:
                return await conn.fetchval("SELECT 1") == 1
    except Exception:
        # Any failure to answer (timeout, refused, broken pool) means the database is down.
        return False


async def check(app: web.Application) -> dict[str, bool]:
    ami = app.get(AMI)
    agi = app.get(AGI)
    checks = {
        "database": await _database_up(app),
        "ami": bool(ami is not None and ami.connected),
        "agi": bool(agi is not None and agi.serving),
    }
    metrics = app[METRICS]
    for name, up in checks.items():
        metrics.dependency_up.labels(name).set(1 if up else 0)
    return checks


@anonymous
async def healthz(request: web.Request) -> web.Response:
    checks = await check(request.app)
    healthy = all(checks.values())
    return web.json_response(
        {
            "status": "ok" if healthy else "degraded",
            "checks": {name: {"up": up} for name, up in checks.items()},
        },
        status=200 if healthy else 503,
    )


@anonymous
async def metrics(request: web.Request) -> web.Response:
    await check(request.app)
    registry = request.app[METRICS]
    return web.Response(body=registry.render(), headers={"Content-Type": registry.content_type})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
