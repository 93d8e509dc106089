"""The public callback API and the widget's script.

``POST /api/v1/callbacks?site=KEY``, ``GET`` and ``DELETE /api/v1/callbacks/{id}`` are
anonymous by decision: the site key and the page's ``Origin`` (one of the site's
origins) admit a request, CORS answers only those origins, and a request is read by its
random id alone — which says nothing about any other request. Cancelling also needs the
``cancel_key`` that only the request's creation answers with (header
``X-Callback-Key``): a second POST of the same number returns the pending request's id,
and knowing someone's number must not be enough to withdraw their callback.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp import web

from server.auth.access import anonymous
from server.http_util import fail, read_json

from .config import SiteConfig
from .keys import CALLBACKS
from .schemas import CallbackBody
from .services import CallbackForm, Refused

STATIC_DIR = Path(__file__).with_name("static")
_PREFLIGHT_MAX_AGE = "600"
CANCEL_KEY_HEADER = "X-Callback-Key"


def _site(request: web.Request) -> SiteConfig:
    site = request.app[CALLBACKS].config.site(request.query.get("site", ""))
    if site is None:
        fail(404, "no such site")
    return site


def _allowed_origin(request: web.Request, site: SiteConfig) -> str:
    origin = request.headers.get("Origin", "")
    if origin not in site.origins:
        fail(403, "this page's origin may not request callbacks for this site")
    return origin


def _cors(response: web.StreamResponse, origin: str) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


def _client_ip(request: web.Request) -> str:
    header = request.app[CALLBACKS].config.client_ip_header
    forwarded = request.headers.get(header, "") if header else ""
    first = forwarded.split(",", 1)[0].strip()
    return first[:64] if first else request.remote or "unknown"


@anonymous
async def preflight(request: web.Request) -> web.Response:
    origin = _allowed_origin(request, _site(request))
    response = web.Response(status=204)
    response.headers.update(
        {
            "Access-Control-Allow-Methods": "POST, GET, DELETE",
            "Access-Control-Allow-Headers": f"Content-Type, {CANCEL_KEY_HEADER}",
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
        }
    )
    return _cors(response, origin)  # type: ignore[return-value]


@anonymous
async def create(request: web.Request) -> web.Response:
    site = _site(request)
    origin = _allowed_origin(request, site)
    try:
        body = await read_json(request, CallbackBody)
        if body.website:
            fail(422, "request refused")
        form = CallbackForm(body.phone, body.name, body.page, body.comment, body.preferred())
        try:
            view, created = await request.app[CALLBACKS].service.submit(
                site, form, _client_ip(request)
            )
        except Refused as exc:
            fail(exc.status, exc.reason)
    except web.HTTPException as exc:
        # Errors reach the widget too: without the CORS header it could not read them.
        _cors(exc, origin)
        raise
    return _cors(web.json_response(view, status=201 if created else 200), origin)  # type: ignore[return-value]


@anonymous
async def status(request: web.Request) -> web.Response:
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError:
        fail(404, "no such callback request")
    callbacks = request.app[CALLBACKS]
    view = await callbacks.service.status(request_id)
    if view is None:
        fail(404, "no such callback request")
    response = web.json_response(view, headers={"Cache-Control": "no-store"})
    site = callbacks.config.site(request.query.get("site", ""))
    origin = request.headers.get("Origin", "")
    if site is not None and origin in site.origins:
        _cors(response, origin)
    return response


@anonymous
async def cancel(request: web.Request) -> web.Response:
    """The visitor withdraws their request (by its random id, like the status)."""
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError:
        fail(404, "no such callback request")
    callbacks = request.app[CALLBACKS]
    site = callbacks.config.site(request.query.get("site", ""))
    origin = request.headers.get("Origin", "")
    cors = origin if site is not None and origin in site.origins else None
    try:
        try:
            view = await callbacks.service.cancel(
                request_id, request.headers.get(CANCEL_KEY_HEADER, "")
            )
        except Refused as exc:
            fail(exc.status, exc.reason)
        if view is None:
            fail(404, "no such callback request")
    except web.HTTPException as exc:
        if cors:
            _cors(exc, cors)
        raise
    response = web.json_response(view)
    return _cors(response, cors) if cors else response  # type: ignore[return-value]


@anonymous
async def widget_script(request: web.Request) -> web.Response:
    return web.Response(
        body=(STATIC_DIR / "widget.js").read_bytes(),
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/callback/widget.js", widget_script)
    app.router.add_route("OPTIONS", "/api/v1/callbacks", preflight)
    app.router.add_post("/api/v1/callbacks", create)
    app.router.add_get("/api/v1/callbacks/{request_id}", status)
    app.router.add_delete("/api/v1/callbacks/{request_id}", cancel)
    app.router.add_route("OPTIONS", "/api/v1/callbacks/{request_id}", preflight)
