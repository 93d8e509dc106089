"""Login, logout, the current user, API tokens, and user administration."""

from __future__ import annotations

from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.auth.access import ROLES, anonymous, current_user, requires_role
from server.auth.middleware import AUTH_SERVICE, SESSION_COOKIE, SESSION_KEY
from server.auth.services import LoginFailed, LoginThrottled, UserExists, UserNotFound, UserService
from server.http_util import fail, int_path, read_json
from server.keys import CONFIG

USER_SERVICE = web.AppKey("user_service", UserService)
_USERNAME = r"^[A-Za-z0-9_.@-]{1,64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginBody(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenBody(_Body):
    name: str = Field(min_length=1, max_length=100)


class NewUserBody(_Body):
    username: str = Field(pattern=_USERNAME)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["operator", "supervisor", "admin"]
    display_name: str = Field("", max_length=200)


class UserPatchBody(_Body):
    password: str | None = Field(None, min_length=8, max_length=256)
    role: Literal["operator", "supervisor", "admin"] | None = None
    display_name: str | None = Field(None, max_length=200)
    active: bool | None = None


def user_json(row: asyncpg.Record) -> dict[str, object]:
    return {
        "id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "role": row["role"],
        "active": row["active"],
        "sip_endpoint": row["sip_endpoint"],
        "created_at": row["created_at"].isoformat(),
    }


@anonymous
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginBody)
    auth = request.app[AUTH_SERVICE]
    try:
        session = await auth.login(body.username, body.password, request.remote or "unknown")
    except LoginThrottled as exc:
        response = web.json_response(
            {"error": "too many failed logins; try again later"}, status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except LoginFailed:
        fail(401, "wrong username or password")
    config = request.app[CONFIG]
    response = web.json_response(
        {
            "user": {
                "id": session.user.id,
                "username": session.user.username,
                "display_name": session.user.display_name,
                "role": session.user.role,
                "sip_endpoint": session.user.sip_endpoint,
            },
            "csrf_token": session.csrf_token,
        }
    )
    # A new random session token at every login: a session id planted before login
    # (session fixation) is never promoted to an authenticated one.
    response.set_cookie(
        SESSION_COOKIE,
        auth.sign(session.token),
        max_age=config.auth.session_max_age_s,
        httponly=True,
        samesite="Strict",
        secure=config.auth.cookie_secure,
        path="/",
    )
    return response


@requires_role("operator")
async def logout(request: web.Request) -> web.Response:
    session = request.get(SESSION_KEY)
    if session is not None:
        await request.app[AUTH_SERVICE].logout(session.token)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@requires_role("operator")
async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    session = request.get(SESSION_KEY)
    return web.json_response(
        {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "sip_endpoint": user.sip_endpoint,
            "csrf_token": session.csrf_token if session else None,
        }
    )


@requires_role("operator")
async def list_tokens(request: web.Request) -> web.Response:
    rows = await request.app[AUTH_SERVICE].list_api_tokens(current_user(request).id)
    return web.json_response(
        [
            {
                "id": r["id"],
                "name": r["name"],
                "created_at": r["created_at"].isoformat(),
                "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None,
            }
            for r in rows
        ]
    )


@requires_role("operator")
async def create_token(request: web.Request) -> web.Response:
    body = await read_json(request, TokenBody)
    row, token = await request.app[AUTH_SERVICE].create_api_token(
        current_user(request).id, body.name
    )
    # The token is shown once, here; only its hash is kept.
    return web.json_response({"id": row["id"], "name": row["name"], "token": token}, status=201)


@requires_role("operator")
async def revoke_token(request: web.Request) -> web.Response:
    token_id = int_path(request, "token_id")
    if not await request.app[AUTH_SERVICE].revoke_api_token(current_user(request).id, token_id):
        fail(404, "no such token")
    return web.json_response({"ok": True})


@requires_role("admin")
async def list_users(request: web.Request) -> web.Response:
    rows = await request.app[USER_SERVICE].list()
    return web.json_response([user_json(r) for r in rows])


@requires_role("admin")
async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request, NewUserBody)
    service = request.app[USER_SERVICE]
    try:
        user = await service.create(body.username, body.password, body.role, body.display_name)
    except UserExists:
        fail(409, f"user {body.username!r} already exists")
    return web.json_response(user_json(await service.get(user.id)), status=201)


@requires_role("admin")
async def get_user(request: web.Request) -> web.Response:
    try:
        row = await request.app[USER_SERVICE].get(int_path(request, "user_id"))
    except UserNotFound:
        fail(404, "no such user")
    return web.json_response(user_json(row))


@requires_role("admin")
async def update_user(request: web.Request) -> web.Response:
    body = await read_json(request, UserPatchBody)
    try:
        row = await request.app[USER_SERVICE].update(
            int_path(request, "user_id"), **body.model_dump(exclude_none=True)
        )
    except UserNotFound:
        fail(404, "no such user")
    return web.json_response(user_json(row))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/auth/me", me)
    app.router.add_get("/api/v1/auth/tokens", list_tokens)
    app.router.add_post("/api/v1/auth/tokens", create_token)
    app.router.add_delete("/api/v1/auth/tokens/{token_id}", revoke_token)
    app.router.add_get("/api/v1/users", list_users)
    app.router.add_post("/api/v1/users", create_user)
    app.router.add_get("/api/v1/users/{user_id}", get_user)
    app.router.add_patch("/api/v1/users/{user_id}", update_user)


__all__ = ["ROLES", "USER_SERVICE", "setup_routes"]
