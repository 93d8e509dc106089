"""A customer's web site on an origin of its own, embedding the chat widget with one
script tag, as a site owner would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer

SWITCHBOARD = web.AppKey("switchboard", str)
SITE = web.AppKey("site", str)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Lamps and more</h1>
<script src="{switchboard}/webchat/widget.js" data-site="{site}" data-lang="en" async></script>
</body></html>"""


async def _page(request: web.Request) -> web.Response:
    html = _PAGE.format(switchboard=request.app[SWITCHBOARD], site=request.app[SITE])
    return web.Response(text=html, content_type="text/html")


@contextlib.asynccontextmanager
async def shop_site(switchboard_url: str, site_key: str) -> AsyncIterator[TestServer]:
    app = web.Application()
    app[SWITCHBOARD] = switchboard_url.rstrip("/")
    app[SITE] = site_key
    app.router.add_get("/", _page)
    server = TestServer(app)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def origin_of(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")
