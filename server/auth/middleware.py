"""Authentication (session cookie or bearer token), role checks and CSRF protection."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.auth.access import ANONYMOUS, AUTH_KIND_KEY, USER_KEY, access_of
from server.auth.services import AuthService, Session
from server.http_util import json_error

log = logging.getLogger(__name__)

SESSION_COOKIE = "sb_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUTH_SERVICE = web.AppKey("auth_service", AuthService)
SESSION_KEY = web.RequestKey("session", Session)


def _wants_page(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and not request.path.startswith("/api/")
        and "text/html" in request.headers.get("Accept", "")
    )


async def _authenticate(request: web.Request, auth: AuthService) -> None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = await auth.user_for_api_token(header[len("Bearer ") :].strip())
        if user is None:
            raise json_error(401, "invalid or revoked API token")
        request[USER_KEY] = user
        request[AUTH_KIND_KEY] = "token"
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        token = auth.unsign(cookie)
        session = await auth.session(token) if token else None
        if session is not None:
            request[USER_KEY] = session.user
            request[AUTH_KIND_KEY] = "session"
            request[SESSION_KEY] = session


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:
        raise match_info.http_exception
    access = access_of(match_info.handler)
    if access == ANONYMOUS:
        return await handler(request)
    await _authenticate(request, request.app[AUTH_SERVICE])
    if access is None:
        # Secure by default: a route that forgot to declare its access is closed.
        log.error("route declares no access rule", extra={"path": request.path})
        raise json_error(403, "this route declares no access rule")
    user = request.get(USER_KEY)
    if user is None:
        if _wants_page(request):
            raise web.HTTPFound(f"/login?next={request.rel_url.path}")
        raise json_error(401, "login required")
    if not user.has_role(access):
        raise json_error(403, f"this needs the {access} role")
    if request.get(AUTH_KIND_KEY) == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, request[SESSION_KEY].csrf_token):
            raise json_error(403, f"missing or wrong {CSRF_HEADER} header")
    return await handler(request)
