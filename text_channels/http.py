"""Public web chat endpoints (the widget, the visitor's socket, files sent to visitors)
and the admin API of the sites that embed the widget.

The public endpoints are anonymous by decision: a site visitor has no login. They trust
only what the server signed (visitor tokens, attachment links) and the site's origins.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import quote

import asyncpg
from aiohttp import web

from crm_connectors.keys import ACCESS
from server.auth import anonymous, current_user, requires_role
from server.http_util import fail, int_path, read_json
from server.keys import CLOCK, POOL

from . import schemas
from .keys import TEXT_CHANNELS
from .sites import KEY_PATTERN, new_site_key
from .visitor_socket import VisitorSocket
from .visitors import attachment_signature

STATIC_DIR = Path(__file__).with_name("static")


@anonymous
async def widget_script(request: web.Request) -> web.Response:
    return web.Response(
        body=(STATIC_DIR / "widget.js").read_bytes(),
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@anonymous
async def visitor_socket(request: web.Request) -> web.StreamResponse:
    channels = request.app[TEXT_CHANNELS]
    site = await channels.sites.get(request.query.get("site", ""))
    if site is None:
        fail(404, "no such site")
    if not site.allows(request.headers.get("Origin")):
        fail(403, "this page's origin may not open the chat of this site")
    ws = web.WebSocketResponse(
        # A visitor whose browser stops answering pings is gone.
        heartbeat=30.0,
        # A file travels as base64 inside a JSON message.
        max_msg_size=channels.config.max_file_bytes * 4 // 3 + 64 * 1024,
    )
    await ws.prepare(request)
    await VisitorSocket(
        ws,
        site,
        channels.conversations,
        channels.webchat,
        channels.visitor_key,
        channels.limiter,
        request.app[CLOCK].now,
    ).run()
    await ws.close()
    return ws


@anonymous
async def visitor_attachment(request: web.Request) -> web.Response:
    channels = request.app[TEXT_CHANNELS]
    attachment_id = int_path(request, "attachment_id")
    visitor, sig = request.query.get("v", ""), request.query.get("sig", "")
    expected = attachment_signature(channels.visitor_key, attachment_id, visitor)
    if not visitor or not hmac.compare_digest(expected, sig):
        fail(404, "no such attachment")
    row = await channels.conversations.attachment(attachment_id)
    if row is None or row["channel"] != "webchat" or row["address"] != visitor:
        fail(404, "no such attachment")
    return attachment_response(row)


def attachment_response(row: asyncpg.Record) -> web.Response:
    """A stored file, always as a download: never rendered by the browser in our origin."""
    return web.Response(
        body=row["data"],
        content_type=row["content_type"],
        headers={
            "Content-Disposition": _disposition(row["name"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def _disposition(name: str) -> str:
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@requires_role("admin")
async def list_sites(request: web.Request) -> web.Response:
    sites = await request.app[TEXT_CHANNELS].sites.list()
    return web.json_response([schemas.site_json(s) for s in sites])


@requires_role("admin")
async def create_site(request: web.Request) -> web.Response:
    return await _put(request, new_site_key(), status=201)


@requires_role("admin")
async def put_site(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    if not KEY_PATTERN.match(key):
        fail(404, "no such site")
    return await _put(request, key, status=200)


async def _put(request: web.Request, key: str, status: int) -> web.Response:
    body = await read_json(request, schemas.SiteBody)
    try:
        site = await request.app[TEXT_CHANNELS].sites.put(
            key, body.name, body.department_id, body.allowed_origins, body.schedule
        )
    except ValueError as exc:
        fail(422, str(exc))
    except asyncpg.ForeignKeyViolationError:
        fail(422, f"no department {body.department_id}")
    return web.json_response(schemas.site_json(site), status=status)


@requires_role("admin")
async def delete_site(request: web.Request) -> web.Response:
    if not await request.app[TEXT_CHANNELS].sites.delete(request.match_info["key"]):
        fail(404, "no such site")
    return web.json_response({"ok": True})


@requires_role("supervisor")
async def list_offline(request: web.Request) -> web.Response:
    """Supervisors see their departments' offline messages, admins all (the one rule
    of crm_connectors.access)."""
    user = current_user(request)
    departments = None
    if not user.has_role("admin"):
        async with request.app[POOL].acquire() as conn:
            departments = await request.app[ACCESS].departments(conn, user)
    rows = await request.app[TEXT_CHANNELS].conversations.offline_messages(departments)
    return web.json_response([schemas.offline_json(r) for r in rows])


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/webchat/widget.js", widget_script)
    app.router.add_get("/api/v1/webchat/ws", visitor_socket)
    app.router.add_get("/api/v1/webchat/attachments/{attachment_id}", visitor_attachment)
    app.router.add_get("/api/v1/webchat/sites", list_sites)
    app.router.add_post("/api/v1/webchat/sites", create_site)
    app.router.add_put("/api/v1/webchat/sites/{key}", put_site)
    app.router.add_delete("/api/v1/webchat/sites/{key}", delete_site)
    app.router.add_get("/api/v1/webchat/offline", list_offline)
